import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { createCluster } from 'redis';
import {
  FixedWindowRateLimit,
  GcraRateLimit,
  RateLimitConfigError,
} from '../../src/core/limits.js';
import { ResilientStore } from '../../src/core/stores/insurance.js';
import type { RedisClientLike } from '../../src/core/stores/redis-client.js';
import { clusterSlotOf } from '../../src/core/stores/redis-slot.js';
import { RedisStore } from '../../src/core/stores/redis-store.js';
import { describeConformance } from '../conformance/conformance.js';
import { redisDescribe } from './redis-available.js';
import { freePorts, TestRedisServer } from './redis-server.js';

const execFileAsync = promisify(execFile);

const describeRedis = await redisDescribe('RedisStore on a 3-master Redis Cluster', {
  ownServers: true,
});

// One cluster for the whole file: three masters on loopback ports, no replicas.
const servers: TestRedisServer[] = [];

async function startCluster(): Promise<void> {
  const ports = await freePorts(3);
  for (const port of ports) {
    const server = new TestRedisServer(port, [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      '5000',
    ]);
    servers.push(server);
    await server.start();
  }
  await execFileAsync('redis-cli', [
    '--cluster',
    'create',
    ...ports.map((port) => `127.0.0.1:${port}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);
  for (let attempt = 0; attempt < 100; attempt++) {
    const states = await Promise.all(servers.map((server) => server.cli('CLUSTER', 'INFO')));
    if (states.every((info) => info.includes('cluster_state:ok'))) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('the cluster did not reach cluster_state:ok');
}

describeRedis('RedisStore on a 3-master Redis Cluster', () => {
  let nodeRedis: ReturnType<typeof createCluster> | undefined;
  let ioredis: Cluster | undefined;

  beforeAll(async () => {
    await startCluster();
    nodeRedis = createCluster({ rootNodes: [{ url: servers[0].url }] });
    nodeRedis.on('error', () => undefined);
    await nodeRedis.connect();
    ioredis = new Cluster([{ host: '127.0.0.1', port: servers[0].port }]);
    ioredis.on('error', () => undefined);
    await new Promise((resolve) => ioredis?.once('ready', resolve));
  }, 30_000);

  afterAll(async () => {
    await nodeRedis?.close().catch(() => undefined);
    ioredis?.disconnect();
    await Promise.all(servers.map((server) => server.stop()));
  });

  const clients = (): { label: string; client: RedisClientLike }[] => [
    { label: 'node-redis createCluster', client: nodeRedis as unknown as RedisClientLike },
    { label: 'ioredis Cluster', client: ioredis as unknown as RedisClientLike },
  ];

  // The scenario table, unchanged: every call, multi-limit ones included, runs without CROSSSLOT.
  for (const label of ['node-redis createCluster', 'ioredis Cluster']) {
    describeConformance({
      name: `RedisStore (${label})`,
      oneSubjectPerCall: true,
      create: (clock) => {
        const { client } = clients().find((entry) => entry.label === label) as {
          client: RedisClientLike;
        };
        return new RedisStore({ client, clock, extraTtlMs: 60_000 });
      },
    });
  }

  test('our slot computation agrees with CLUSTER KEYSLOT', async () => {
    const keys = [
      'mcprl:{6:user:1}h4:demofw:5:1000',
      'plain-key',
      'a{}b',
      '{}{x}',
      'z{é}',
      'mcprl:{10:ip:1.2.3.4}n1:xgcra:1:5',
    ];
    for (const key of keys) {
      expect(clusterSlotOf(key)).toBe(Number(await servers[0].cli('CLUSTER', 'KEYSLOT', key)));
    }
  });

  test('a call whose keys fall in different slots is refused up front, naming the keys', async () => {
    for (const { client } of clients()) {
      const store = new RedisStore({ client });
      const limit = new FixedWindowRateLimit({ maxCalls: 1, perSeconds: 60 });
      const checks = [
        { key: 'x:{alice}a', limit, cost: 1 },
        { key: 'x:{bob}b', limit: new GcraRateLimit({ ratePerSecond: 1, burst: 1 }), cost: 1 },
      ];
      expect(clusterSlotOf(checks[0].key)).not.toBe(clusterSlotOf(checks[1].key));
      await expect(store.evaluate(checks)).rejects.toThrow('different Redis Cluster slots');
      await expect(store.evaluate(checks)).rejects.toThrow(RateLimitConfigError);
      // A misconfiguration is not an outage: the policy does not hide it, and other calls still
      // use the cluster.
      const resilient = new ResilientStore(store, { logger: { warn: () => undefined } });
      await expect(resilient.evaluate(checks)).rejects.toThrow(RateLimitConfigError);
      expect(resilient.degraded).toBe(false);
      const fresh = { key: `x:{carol}${Math.random()}`, limit, cost: 1 };
      expect((await resilient.evaluate([fresh]))[0].allowed).toBe(true);
      expect((await resilient.evaluate([fresh]))[0].allowed).toBe(false);
      expect(resilient.degraded).toBe(false);
      await store.close();
    }
  });
});
