import { StoreClient } from '../client/StoreClient.js';
import { DEFAULT_LIMITS, type Limits } from '../protocol/limits.js';
import { PartitionTable } from '../protocol/PartitionTable.js';
import { DEFAULT_TUNING, type PlaceConfig } from '../protocol/Place.js';
import { processorRegistry } from '../protocol/processors.js';
import { PlaceNode } from '../runtime/PlaceNode.js';
import { MemoryNetwork, type MemoryTransport } from '../transport/MemoryNetwork.js';

/** Options of a simulated cluster. */
export interface SimOptions {
  seed?: number;
  partitionCount?: number;
  minPlaces?: number;
  limits?: Limits;
  processors?: Record<string, unknown>;
}

/** A simulated place: its node and its endpoint. */
export interface SimPlace {
  node: PlaceNode;
  transport: MemoryTransport;
  address: string;
}

/** A whole cluster of places and clients in one process, on a MemoryNetwork with a virtual clock. */
export class SimCluster {
  readonly net: MemoryNetwork;
  readonly places: SimPlace[] = [];
  private clients = 0;
  private readonly clientTransports = new Map<StoreClient, MemoryTransport>();

  constructor(private readonly options: SimOptions = {}) {
    this.net = new MemoryNetwork(options.seed ?? 1);
  }

  /** Starts a place; the first bootstraps, the others join through every earlier place. */
  async addPlace(opts: { spare?: boolean; zone?: string; seeds?: string[] } = {}): Promise<SimPlace> {
    const address = `place-${this.places.length}:7400`;
    const config: PlaceConfig = {
      ...DEFAULT_TUNING,
      address,
      zone: opts.zone ?? null,
      spare: opts.spare ?? false,
      pid: 1000 + this.places.length,
      seeds: opts.seeds ?? this.places.map((p) => p.address),
      partitionCount: this.options.partitionCount ?? 16,
      minPlaces: this.options.minPlaces ?? 2,
      limits: this.options.limits ?? DEFAULT_LIMITS,
      processors: processorRegistry(this.options.processors),
    };
    const transport = this.net.transport(address);
    const node = new PlaceNode(config, transport, this.net.scheduler);
    await node.start();
    const place = { node, transport, address };
    this.places.push(place);
    return place;
  }

  /** Starts count places and waits until the table is formed and every one has joined. */
  async start(count: number, opts: { spares?: number; zones?: string[] } = {}): Promise<void> {
    for (let i = 0; i < count; i++) await this.addPlace({ zone: opts.zones?.[i % opts.zones.length] });
    for (let i = 0; i < (opts.spares ?? 0); i++) await this.addPlace({ spare: true });
    await this.net.runUntil(
      () => this.places.every((p) => p.node.place.id !== null) && this.leaderTable()?.formed === true,
    );
  }

  /** The table the leader (place 0) holds. */
  leaderTable() {
    return this.places[0]?.node.place.tableData ?? null;
  }

  /** A client of this cluster; seeds default to the first place. */
  client(opts: { seeds?: string[]; timeoutMs?: number } = {}): StoreClient {
    const transport = this.net.transport(`client-${this.clients++}`);
    const client = new StoreClient({
      seeds: opts.seeds ?? [this.places[0].address],
      timeoutMs: opts.timeoutMs ?? 5000,
      transport,
      scheduler: this.net.scheduler,
    });
    this.clientTransports.set(client, transport);
    return client;
  }

  /** The endpoint a client of this cluster uses. */
  transportOf(client: StoreClient): MemoryTransport {
    return this.clientTransports.get(client)!;
  }

  /** The place holding key's primary, by the leader's table. */
  primaryOf(key: string): SimPlace {
    const table = new PartitionTable(this.leaderTable()!);
    return this.places[table.data.partitions[table.partitionOf(key)].primary!];
  }

  /** The place holding key's backup, by the leader's table. */
  backupOf(key: string): SimPlace {
    const table = new PartitionTable(this.leaderTable()!);
    return this.places[table.data.partitions[table.partitionOf(key)].backup!];
  }

  /** Runs the network until promise settles and returns its result (or throws its error). */
  async settle<T>(promise: Promise<T>, maxVirtualMs = 30_000): Promise<T> {
    let done = false;
    const tracked = promise.finally(() => {
      done = true;
    });
    tracked.catch(() => {});
    await this.net.runUntil(() => done, maxVirtualMs);
    return tracked;
  }
}
