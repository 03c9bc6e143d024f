// Found by attack review 7: a `messageLimit` in the module options is a declared limit. In the Quick
// Start wiring (MCP-Nest mounts POST /mcp itself, no controller carries @LimitMcpMessages()) it
// counted nothing at all, yet bootstrap succeeded and logged "message-level limit on". The promise:
// every declared limit is enforced, whatever the wiring, or the app refuses to start.
import 'reflect-metadata';
import { afterEach, expect, test } from '@jest/globals';
import { Module, type INestApplication } from '@nestjs/common';
import { McpController, StreamableHttpTransport, Tool } from '@rekog/mcp-nest';
import { serveMcpNest } from '../fixtures/mcp-nest-server.js';
import { FixedWindowRateLimit, McpRateLimitModule } from '../../src/index.js';

@McpController()
class FreeTools {
  @Tool({ name: 'free', description: 'no limit of its own' })
  free() {
    return 'ran';
  }
}

const apps: INestApplication[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

test('a messageLimit that no endpoint applies (MCP-Nest mounts /mcp itself) fails bootstrap, naming the fix', async () => {
  @Module({
    imports: [
      McpRateLimitModule.forRoot({
        messageLimit: { limits: [new FixedWindowRateLimit({ maxCalls: 3, perSeconds: 60 })] },
      }),
    ],
    controllers: [FreeTools],
  })
  class AppModule {}

  const serving = serveMcpNest(AppModule, new StreamableHttpTransport(), 'unbound', {
    abortOnError: false,
  });
  // Should it start after all, it is closed after the test.
  serving.then(({ app }) => apps.push(app)).catch(() => undefined);
  await expect(serving).rejects.toThrow(
    /"messageLimit" option but no HTTP route is marked @LimitMcpMessages\(\), so it would count nothing.*Fix: serve the MCP endpoint from your own controller .* and put @LimitMcpMessages\(\) on it/,
  );
});
