import { Injectable, UnauthorizedException, type NestMiddleware } from '@nestjs/common';

/** What the demo auth puts on `request.user`; the rate limiter keys calls by its `id`. */
export interface DemoUser {
  readonly id: string;
}

interface RequestWithUser {
  headers: Record<string, string | string[] | undefined>;
  user?: DemoUser;
}

/**
 * Demo authentication, NOT for production: `Authorization: Bearer <name>` makes `<name>` the user
 * id; no header means an anonymous client, which the rate limiter keys by IP address.
 * A real app verifies a token here (or in a guard) and sets `request.user` the same way.
 */
@Injectable()
export class DemoAuthMiddleware implements NestMiddleware {
  use(request: RequestWithUser, _response: unknown, next: () => void): void {
    const header = request.headers.authorization;
    if (header !== undefined) {
      const match = typeof header === 'string' ? /^Bearer ([\w.@-]{1,64})$/.exec(header) : null;
      // Thrown, not passed to next(): Nest answers it with a 401 JSON body.
      if (match === null) throw new UnauthorizedException('Authorization must be "Bearer <name>"');
      request.user = { id: match[1] };
    }
    next();
  }
}
