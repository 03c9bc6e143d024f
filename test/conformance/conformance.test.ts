import { createCache } from 'cache-manager';
import { CacheManagerStore, MemoryStore } from '../../src/index.js';
import { describeConformance } from './conformance.js';

// One line per store. The Redis stores are in test/redis (they need a server).
describeConformance({ name: 'MemoryStore', create: (clock) => new MemoryStore({ clock }) });
describeConformance({
  name: 'CacheManagerStore (in-memory Keyv)',
  create: (clock) => new CacheManagerStore(createCache(), { clock }),
});
