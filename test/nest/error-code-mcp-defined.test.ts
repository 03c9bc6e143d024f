// Found by attack review 9: `errorCode` accepts a code MCP itself defines for another error.
// The option refuses the codes JSON-RPC defines and MCP's reserved -32020..-32099 "so a client
// never mistakes a denial for another error", but accepts -32002, which the MCP specification
// (2025-06-18, 2025-11-25) and the SDK (`ProtocolErrorCode.ResourceNotFound`) define as "Resource
// not found": with it, every denial of a resource read tells the client the resource does not
// exist, and a client that stops asking for missing resources never retries.
import 'reflect-metadata';
import { expect, test } from '@jest/globals';
import { ProtocolErrorCode } from '@modelcontextprotocol/client';
import { Controller, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FixedWindowRateLimit, McpRateLimitModule, RateLimit } from '../../src/index.js';

async function bootstrap(errorCode: number) {
  @Controller('rpc')
  class RpcController {
    @Post()
    @RateLimit(new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 }))
    handle() {
      return {};
    }
  }
  @Module({ imports: [McpRateLimitModule.forRoot({ errorCode })], controllers: [RpcController] })
  class AppModule {}
  const app = await NestFactory.create(AppModule, { logger: false, abortOnError: false });
  try {
    await app.init();
  } finally {
    await app.close();
  }
}

test('errorCode -32002 (MCP "Resource not found") is refused at bootstrap', async () => {
  expect(ProtocolErrorCode.ResourceNotFound).toBe(-32002);
  await expect(bootstrap(-32002)).rejects.toThrow(/"errorCode".*Resource not found/);
});

test('errorCode -32005 (the convention) and -32023 (SEP-3304) are still accepted', async () => {
  await expect(bootstrap(-32005)).resolves.toBeUndefined();
  await expect(bootstrap(-32023)).resolves.toBeUndefined();
});
