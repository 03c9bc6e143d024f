import { Redis } from 'ioredis';
import { createClient } from 'redis';
import type { RedisClientLike } from '../../src/core/stores/redis-store.js';

/** A connected client of one of the two libraries, and how to end it. */
export interface TestClient {
  readonly client: RedisClientLike;
  /** Run a plain command (for assertions on Redis itself). */
  command(args: string[]): Promise<unknown>;
  quit(): Promise<void>;
}

export const CLIENT_LIBRARIES = ['node-redis', 'ioredis'] as const;
export type ClientLibrary = (typeof CLIENT_LIBRARIES)[number];

/** A connected node-redis client whose connection errors do not crash the test process. */
export async function connectNodeRedis(url: string): Promise<ReturnType<typeof createClient>> {
  const client = createClient({ url });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

export async function connectClient(library: ClientLibrary, url: string): Promise<TestClient> {
  if (library === 'node-redis') {
    const client = await connectNodeRedis(url);
    return {
      client: client as unknown as RedisClientLike,
      command: (args) => client.sendCommand(args),
      quit: async () => {
        await client.close();
      },
    };
  }
  const client = new Redis(url, { lazyConnect: true });
  client.on('error', () => undefined);
  await client.connect();
  return {
    client: client as unknown as RedisClientLike,
    command: (args) => client.call(args[0], args.slice(1)),
    quit: async () => {
      await client.quit();
    },
  };
}

/** A subject no other test run uses, so keys start empty. */
export function uniqueSubject(label: string): string {
  return `${label}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
