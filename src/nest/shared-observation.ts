// One observable instrument of a meter provider, observed for every module that records with that
// provider. Two Nest apps of one process (the global provider, by default) each made the module's
// instruments; OpenTelemetry keeps one value per series at a collection, so each app's
// observations of the same series (same handler, method, outcome) replaced the other's: an app's
// decisions vanished from the counter. Here one callback per provider and instrument combines
// what every module observes: totals add up, the outage gauge shows a store in outage if any is.

type Attributes = Readonly<Record<string, string>>;

/** Where a module's callback puts its observations. */
export interface ObservationSink {
  observe(value: number, attributes?: Attributes): void;
}

/** The part of an OpenTelemetry observable instrument this needs. */
export interface ObservableInstrument {
  addCallback(callback: (result: ObservationSink) => void): void;
  removeCallback(callback: (result: ObservationSink) => void): void;
}

/** How two modules' values of one series combine: counts add up, an outage flag is the highest. */
export type Combine = 'sum' | 'max';

type Source = (result: ObservationSink) => void;

interface Shared {
  readonly instrument: ObservableInstrument;
  readonly callback: Source;
  readonly sources: Set<Source>;
}

const byProvider = new WeakMap<object, Map<string, Shared>>();

/**
 * Adds `source` to the observations of the instrument `name` of `provider` (`instrument` is this
 * module's handle on it, used when it is the first). Answers what stops observing `source`.
 */
export function observeShared(
  provider: object,
  name: string,
  instrument: ObservableInstrument,
  source: Source,
  combine: Combine,
): () => void {
  let shared = byProvider.get(provider);
  if (shared === undefined) byProvider.set(provider, (shared = new Map()));
  let entry = shared.get(name);
  if (entry === undefined) {
    const sources = new Set<Source>();
    const callback = (result: ObservationSink) => observeAll(sources, result, combine);
    entry = { instrument, callback, sources };
    shared.set(name, entry);
    instrument.addCallback(callback);
  }
  const joined = entry;
  joined.sources.add(source);
  return () => {
    if (!joined.sources.delete(source) || joined.sources.size !== 0) return;
    joined.instrument.removeCallback(joined.callback);
    if (shared.get(name) === joined) shared.delete(name);
  };
}

function observeAll(sources: Set<Source>, result: ObservationSink, combine: Combine): void {
  if (sources.size === 1) {
    for (const source of sources) source(result);
    return;
  }
  const series = new Map<string, { attributes: Attributes | undefined; value: number }>();
  const sink: ObservationSink = {
    observe(value, attributes) {
      const key = attributes === undefined ? '' : JSON.stringify(Object.entries(attributes).sort());
      const seen = series.get(key);
      if (seen === undefined) series.set(key, { attributes, value });
      else seen.value = combine === 'sum' ? seen.value + value : Math.max(seen.value, value);
    },
  };
  for (const source of sources) source(sink);
  for (const { attributes, value } of series.values()) result.observe(value, attributes);
}
