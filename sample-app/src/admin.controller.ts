import { timingSafeEqual } from 'node:crypto';
import {
  BadRequestException,
  Controller,
  Delete,
  ForbiddenException,
  Get,
  Headers,
  HttpCode,
  NotFoundException,
  Param,
  Query,
  Req,
  UnauthorizedException,
} from '@nestjs/common';
import {
  BuiltInRateLimit,
  McpRateLimitService,
  type RateLimitDecision,
} from 'nestjs-mcp-rate-limit';

/**
 * The operator's admin token; an empty variable is unset, never a token that a request without
 * the header would match.
 */
const OWN_TOKEN =
  process.env.SAMPLE_ADMIN_TOKEN === '' ? undefined : process.env.SAMPLE_ADMIN_TOKEN;
/** The demo admin token, NOT for production: a real app puts its admin auth here. */
const ADMIN_TOKEN = OWN_TOKEN ?? 'demo-admin-token';

interface RequestFrom {
  readonly socket?: { readonly remoteAddress?: string };
}

interface TargetQuery {
  readonly tool?: string;
  readonly resource?: string;
  readonly prompt?: string;
  readonly messages?: string;
}

/**
 * Support tools for rate limits: look up what a user has left on a tool, resource, prompt or the
 * message-level limit, and give them a fresh allowance (e.g. after a plan upgrade).
 *
 *   GET    /admin/limits/alice?tool=demo.echo     what alice has left (nothing is consumed)
 *   DELETE /admin/limits/alice?tool=demo.echo     alice starts afresh on demo.echo
 *
 * `?resource=demo://status`, `?prompt=greet` or `?messages=1` instead of `?tool=`. Every call needs
 * `X-Admin-Token: <token>`. The default token is in the README, and the app listens on every
 * interface: with it, only requests from this machine are answered; set SAMPLE_ADMIN_TOKEN to
 * reach the route from elsewhere.
 */
@Controller('admin/limits')
export class AdminController {
  constructor(private readonly limits: McpRateLimitService) {}

  @Get(':user')
  async peek(
    @Req() request: RequestFrom,
    @Headers('x-admin-token') token: string | undefined,
    @Param('user') user: string,
    @Query() query: TargetQuery,
  ) {
    checkAccess(request, token);
    const target = targetOf(query);
    const decision = await this.run(() => this.limits.peek(target, `user:${user}`));
    return { user, target, ...describe(decision) };
  }

  @Delete(':user')
  @HttpCode(204)
  async reset(
    @Req() request: RequestFrom,
    @Headers('x-admin-token') token: string | undefined,
    @Param('user') user: string,
    @Query() query: TargetQuery,
  ): Promise<void> {
    checkAccess(request, token);
    const target = targetOf(query);
    await this.run(() => this.limits.reset(target, `user:${user}`));
  }

  /** An unknown tool (or the like) is the caller's mistake: 404 with the message that names it. */
  private async run<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof Error && error.message.includes('no rate-limited')) {
        throw new NotFoundException(error.message);
      }
      throw error;
    }
  }
}

function checkAccess(request: RequestFrom, token: string | undefined): void {
  if (OWN_TOKEN === undefined && !isLoopback(request.socket?.remoteAddress)) {
    throw new ForbiddenException(
      'the demo admin token works from this machine only: set SAMPLE_ADMIN_TOKEN to reach this route from elsewhere',
    );
  }
  checkToken(token);
}

function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || v4.startsWith('127.');
}

function checkToken(token: string | undefined): void {
  const given = Buffer.from(token ?? '');
  const expected = Buffer.from(ADMIN_TOKEN);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new UnauthorizedException('X-Admin-Token is missing or wrong');
  }
}

function targetOf(query: TargetQuery) {
  if (typeof query.tool === 'string') return { tool: query.tool };
  if (typeof query.resource === 'string') return { resource: query.resource };
  if (typeof query.prompt === 'string') return { prompt: query.prompt };
  if (query.messages !== undefined) return 'messages' as const;
  throw new BadRequestException('name one of ?tool=, ?resource=, ?prompt= or ?messages=1');
}

/** Each built-in limit's remaining quota and when it resets, in seconds as on the wire. */
function describe(decision: RateLimitDecision) {
  return {
    allowed: decision.allowed,
    retryAfter: decision.retryAfter,
    limits: decision.results.map((result) => ({
      limit: result.limiter instanceof BuiltInRateLimit ? result.limiter.describe() : 'custom',
      remaining: result.remaining,
      quota: result.quota,
      resetSeconds:
        result.resetAfterMs === undefined ? undefined : Math.ceil(result.resetAfterMs / 1000),
    })),
  };
}
