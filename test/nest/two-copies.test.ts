// The dual-package hazard: one process that loads this package twice (its CommonJS build through
// require() and its ES module build through import, or two installs at different node_modules
// paths) has two of each class. Probed with real apps (a Nest 11 CommonJS app and a Nest 12 ESM
// app, MCP-Nest 2.0.5 tools and plain routes, and a library with its own nested copy): every mix of
// decorators, limits and McpRateLimitModule from two copies failed bootstrap, but with messages
// that hid the cause: "McpRateLimitGuard: rate limits are declared but McpRateLimitModule is not
// imported" (it was, from the other copy) or "limit #1 must be a built-in limit ... (got object
// FixedWindowRateLimit)". What must hold: bootstrap fails naming the handler, both copies and the
// fix. Jest cannot load the CommonJS build next to the sources (it require()s the ESM-only Nest
// 12), so the other copy here is simulated by its brand; the real two copies are proved by
// `npm run test:consumers` (test/consumers/shared/two-copies.ts).
import 'reflect-metadata';
import { afterEach, describe, expect, test } from '@jest/globals';
import {
  Controller,
  HttpCode,
  Injectable,
  Module,
  Post,
  UseGuards,
  type CanActivate,
  type INestApplication,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import {
  createRateLimiter,
  FixedWindowRateLimit,
  McpRateLimitModule,
  RateLimit,
} from '../../src/index.js';

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** What the other copy's classes carry: the brand every copy reads, with that copy's location. */
const OTHER_COPY = {
  location: '/app/node_modules/lib/node_modules/nestjs-mcp-rate-limit/dist/cjs',
};
const BRAND = Symbol.for('nestjs-mcp-rate-limit:copy');

/** A FixedWindowRateLimit of the other copy: the same fields, another class. */
function otherCopyLimit(): object {
  const own = new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 });
  class FixedWindowRateLimitOfOtherCopy {}
  Object.defineProperty(FixedWindowRateLimitOfOtherCopy, 'name', { value: 'FixedWindowRateLimit' });
  Object.defineProperty(FixedWindowRateLimitOfOtherCopy.prototype, BRAND, { value: OTHER_COPY });
  return Object.assign(new FixedWindowRateLimitOfOtherCopy(), own);
}

/** The other copy's McpRateLimitGuard, as its @RateLimit() binds it. */
@Injectable()
class McpRateLimitGuard implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}
Object.defineProperty(McpRateLimitGuard, BRAND, { value: OTHER_COPY });

async function boot(module: object): Promise<void> {
  const app = await NestFactory.create(module as never, { logger: false, abortOnError: false });
  apps.push(app);
  await app.init();
}

const twoCopies = (what: string) =>
  new RegExp(
    `${what} comes from one copy of nestjs-mcp-rate-limit \\(.+\\) but would be decided by another \\(.+\\)\\. The process has loaded the package twice.*Fix: load one copy`,
  );

describe('two loaded copies of the package', () => {
  test("a limit of the other copy in this copy's @RateLimit(): bootstrap names the handler and both copies", async () => {
    @Controller('search')
    class SearchController {
      @Post()
      @HttpCode(200)
      @RateLimit(otherCopyLimit() as FixedWindowRateLimit)
      search() {
        return { ok: true };
      }
    }
    @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [SearchController] })
    class AppModule {}
    const failure = boot(AppModule);
    await expect(failure).rejects.toThrow(
      twoCopies('SearchController\\.search: limit #1 \\(object FixedWindowRateLimit\\)'),
    );
    await expect(failure).rejects.toThrow(OTHER_COPY.location);
  });

  test("the other copy's @RateLimit() (its guard) with this copy's module: bootstrap names the handler", async () => {
    @Controller('search')
    class SearchController {
      @Post()
      @UseGuards(McpRateLimitGuard)
      search() {
        return { ok: true };
      }
    }
    @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [SearchController] })
    class AppModule {}
    await expect(boot(AppModule)).rejects.toThrow(
      twoCopies('SearchController\\.search: the McpRateLimitGuard its @RateLimit\\(\\).*binds'),
    );
  });

  test("this copy's @RateLimit() with the other copy's module: the guard names the handler, not 'not imported'", async () => {
    @Controller('search')
    class SearchController {
      @Post()
      @HttpCode(200)
      @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
      search() {
        return { ok: true };
      }
    }
    // What the other copy's McpRateLimitModule provides (its own service is not this copy's).
    @Module({
      providers: [
        { provide: Symbol.for('nestjs-mcp-rate-limit:module-copy'), useValue: OTHER_COPY },
      ],
    })
    class OtherCopyRateLimitModule {}
    @Module({ imports: [OtherCopyRateLimitModule], controllers: [SearchController] })
    class AppModule {}
    const failure = boot(AppModule);
    await expect(failure).rejects.toThrow(
      twoCopies(
        'McpRateLimit(Guard|Filter), bound by the rate-limit decorators of SearchController\\.search,',
      ),
    );
    await expect(failure).rejects.not.toThrow(/is not imported/);
  });

  test('createRateLimiter with a limit of the other copy names both copies', () => {
    expect(() => createRateLimiter({ limits: [otherCopyLimit() as FixedWindowRateLimit] })).toThrow(
      twoCopies('createRateLimiter: limit #1 \\(object FixedWindowRateLimit\\)'),
    );
  });

  test('with no module at all, the message stays "not imported"', async () => {
    @Controller('search')
    class SearchController {
      @Post()
      @RateLimit(new FixedWindowRateLimit({ maxCalls: 2, perSeconds: 60 }))
      search() {
        return { ok: true };
      }
    }
    @Module({ controllers: [SearchController] })
    class AppModule {}
    await expect(boot(AppModule)).rejects.toThrow(/McpRateLimitModule is not imported/);
  });
});
