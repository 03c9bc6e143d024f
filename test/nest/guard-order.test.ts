// Attack review 11 (F4): an auth guard bound with @UseGuards() above @RateLimit() on the same
// route runs after the rate-limit guard (Nest applies the lowest decorator first, and runs a
// class's guards before a method's), so the limit keys its calls by address, not by user.
// Bootstrap warns, naming the handler, the guard and the fix.
import { afterEach, describe, expect, test } from '@jest/globals';
import {
  Controller,
  Injectable,
  Module,
  Post,
  UseGuards,
  type CanActivate,
  type INestApplication,
  type LoggerService,
  type Type,
} from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FixedWindowRateLimit, McpRateLimitModule, RateLimit } from '../../src/index.js';

@Injectable()
class AuthGuard implements CanActivate {
  canActivate(): boolean {
    return true;
  }
}

const limit = () => new FixedWindowRateLimit({ maxCalls: 5, perSeconds: 60 });

@Controller('below')
class AuthBelowTheLimit {
  @Post()
  @UseGuards(AuthGuard)
  @RateLimit(limit())
  call(): object {
    return {};
  }
}

@Controller('above')
class AuthAboveTheLimit {
  @Post()
  @RateLimit(limit())
  @UseGuards(AuthGuard)
  call(): object {
    return {};
  }
}

@Controller('class')
@RateLimit(limit())
class LimitOnTheClass {
  @Post()
  @UseGuards(AuthGuard)
  call(): object {
    return {};
  }
}

let app: INestApplication | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function bootstrapWarnings(controller: Type<unknown>): Promise<string[]> {
  const warnings: string[] = [];
  const logger: LoggerService = {
    log: () => undefined,
    error: () => undefined,
    warn: (message: unknown, context?: unknown) => {
      if (context === 'McpRateLimit') warnings.push(String(message));
    },
  };
  @Module({ imports: [McpRateLimitModule.forRoot()], controllers: [controller] })
  class AppModule {}
  app = await NestFactory.create(AppModule, { logger });
  await app.init();
  return warnings;
}

describe('bootstrap warns of a guard that runs after the rate-limit guard', () => {
  test('@UseGuards(AuthGuard) above @RateLimit() on the method', async () => {
    const warnings = await bootstrapWarnings(AuthBelowTheLimit);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^AuthBelowTheLimit\.call: AuthGuard runs after the rate-limit guard/,
    );
    expect(warnings[0]).toContain('write @RateLimit() above @UseGuards(...)');
  });

  test('@RateLimit() on the class, @UseGuards(AuthGuard) on the method', async () => {
    const warnings = await bootstrapWarnings(LimitOnTheClass);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^LimitOnTheClass\.call: AuthGuard runs after/);
  });

  test('no warning when the auth guard runs first', async () => {
    expect(await bootstrapWarnings(AuthAboveTheLimit)).toEqual([]);
  });
});
