/**
 * In-memory signaling for tests and simulation: a hub holding rooms with versioned views, and clients that
 * implement the {@link SignalingClient} contract. With a {@link MemoryNetwork}, the hub is the node
 * `MEMORY_SIGNALING_NODE`: partition a peer away from it and the hub drops the peer after `livenessMs`, the peer
 * sees its connection lost, and it rejoins by itself after the heal, exactly as with the WebSocket server.
 */
import { systemClock, type Clock, type Timer } from '../clock/clock.js';
import { meshError } from '../errors.js';
import type { PeerInfo, ViewDelta, ViewSnapshot } from '../membership/types.js';
import type { MemoryNetwork } from '../transport/memory.js';
import type { SignalingClient, SignalingHandlers, SignalingStatus } from './types.js';

/** The node name of the hub on a {@link MemoryNetwork}, for partitions. */
export const MEMORY_SIGNALING_NODE = 'signaling';

/** Options of a {@link MemorySignalingHub}. */
export interface MemorySignalingHubOptions {
  clock?: Clock;
  /** When given, reachability (partitions) is taken from this network. */
  network?: MemoryNetwork;
  /** Delay of each hub message in ms (default 0). */
  latencyMs?: number;
  /** How often the hub and its clients check liveness (default 1000 ms). */
  livenessMs?: number;
}

interface Member {
  peer: PeerInfo;
  client: MemorySignaling;
}

interface Room {
  version: number;
  members: Map<string, Member>;
  /** Set when members changed without a view (the hub stopped): the next view carries no delta. */
  reset: boolean;
}

/** What one change of a room did, for the {@link ViewDelta} of the view that follows it. */
interface RoomChange {
  readonly changed: readonly PeerInfo[];
  readonly left: readonly string[];
}

/** An in-memory signaling server. */
export class MemorySignalingHub {
  readonly clock: Clock;
  readonly #network: MemoryNetwork | undefined;
  readonly #latencyMs: number;
  readonly livenessMs: number;
  readonly #rooms = new Map<string, Room>();
  #timer: Timer | undefined;
  #down = false;

  constructor(options: MemorySignalingHubOptions = {}) {
    this.clock = options.clock ?? systemClock;
    this.#network = options.network;
    this.#latencyMs = options.latencyMs ?? 0;
    this.livenessMs = options.livenessMs ?? 1000;
    this.#timer = this.clock.setInterval(() => this.#checkLiveness(), this.livenessMs);
  }

  /** A new client for `room`. */
  client(room: string): MemorySignaling {
    return new MemorySignaling(this, room);
  }

  /** The current view of a room (for assertions). */
  view(room: string): ViewSnapshot {
    const r = this.#rooms.get(room);
    return { version: r?.version ?? 0, peers: r === undefined ? [] : [...r.members.values()].map((m) => m.peer) };
  }

  /** Simulates the server going away: every client loses its connection; state is kept for `start()`. */
  stop(): void {
    this.#down = true;
    for (const room of this.#rooms.values()) {
      room.members.clear();
      room.reset = true;
    }
  }

  /** Brings a stopped hub back; clients reconnect on their next liveness check. */
  start(): void {
    this.#down = false;
  }

  /** Stops the liveness timer. */
  close(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** @internal Whether `peerId` can talk to the hub now. */
  _reachable(peerId: string): boolean {
    return !this.#down && (this.#network === undefined || this.#network.canReach(peerId, MEMORY_SIGNALING_NODE));
  }

  /** @internal */
  _join(roomName: string, peer: PeerInfo, client: MemorySignaling): void {
    let room = this.#rooms.get(roomName);
    if (room === undefined) this.#rooms.set(roomName, (room = { version: 0, members: new Map(), reset: false }));
    const existing = room.members.get(peer.id);
    if (existing !== undefined && existing.client !== client && existing.peer.incarnation > peer.incarnation) {
      this.#later(() => client._error(meshError('SignalingError', `peer ${peer.id} is already in room ${roomName} with a higher incarnation`)));
      return;
    }
    room.members.set(peer.id, { peer, client });
    this.#changed(room, { changed: [peer], left: [] });
  }

  /** @internal */
  _update(roomName: string, peerId: string, capabilities: readonly string[]): void {
    const room = this.#rooms.get(roomName);
    const m = room?.members.get(peerId);
    if (room === undefined || m === undefined) return;
    m.peer = { ...m.peer, capabilities: [...capabilities] };
    this.#changed(room, { changed: [m.peer], left: [] });
  }

  /** @internal */
  _leave(roomName: string, peerId: string, client: MemorySignaling): void {
    const room = this.#rooms.get(roomName);
    const m = room?.members.get(peerId);
    if (room === undefined || m === undefined || m.client !== client) return;
    room.members.delete(peerId);
    this.#changed(room, { changed: [], left: [peerId] });
  }

  /** @internal */
  _signal(roomName: string, from: string, to: string, data: unknown): void {
    const target = this.#rooms.get(roomName)?.members.get(to);
    if (target === undefined || !this._reachable(from) || !this._reachable(to)) return;
    this.#later(() => target.client._signal(from, data));
  }

  /**
   * Bumps the room's version and sends every member the new view, with a {@link ViewDelta} from the previous
   * version (members keep their place in the map when re-announced, and new ones go last, as the delta promises),
   * so each peer applies it in O(change) rather than O(room).
   */
  #changed(room: Room, change: RoomChange): void {
    const from = room.version;
    room.version++;
    const delta: ViewDelta | undefined = room.reset ? undefined : { from, changed: change.changed, left: change.left };
    room.reset = false;
    const peers = [...room.members.values()].map((m) => m.peer);
    const view: ViewSnapshot = delta === undefined ? { version: room.version, peers } : { version: room.version, peers, delta };
    for (const m of room.members.values()) {
      const client = m.client;
      const id = m.peer.id;
      this.#later(() => {
        if (this._reachable(id)) client._view(view);
      });
    }
  }

  #checkLiveness(): void {
    for (const room of this.#rooms.values()) {
      const gone = [...room.members.values()].filter((m) => m.client._killed || !this._reachable(m.peer.id));
      if (gone.length === 0) continue;
      for (const m of gone) room.members.delete(m.peer.id);
      this.#changed(room, { changed: [], left: gone.map((m) => m.peer.id) });
    }
  }

  #later(fn: () => void): void {
    this.clock.setTimeout(fn, this.#latencyMs);
  }
}

/** A {@link SignalingClient} of a {@link MemorySignalingHub}. */
export class MemorySignaling implements SignalingClient {
  readonly #hub: MemorySignalingHub;
  readonly #room: string;
  #handlers: SignalingHandlers | undefined;
  #self: PeerInfo | undefined;
  #status: SignalingStatus = 'closed';
  #lastVersion = 0;
  #timer: Timer | undefined;
  #joined: { resolve: () => void; reject: (e: Error) => void } | undefined;
  readonly #early: Array<[string, unknown]> = [];

  /** Use {@link MemorySignalingHub.client}. */
  constructor(hub: MemorySignalingHub, room: string) {
    this.#hub = hub;
    this.#room = room;
  }

  get status(): SignalingStatus {
    return this.#status;
  }

  setHandlers(handlers: SignalingHandlers): void {
    this.#handlers = handlers;
    for (const [from, data] of this.#early.splice(0)) handlers.onSignal?.(from, data);
  }

  join(self: PeerInfo): Promise<void> {
    this.#self = { ...self, capabilities: [...self.capabilities] };
    this.#setStatus('connecting');
    this.#timer ??= this.#hub.clock.setInterval(() => this.#check(), this.#hub.livenessMs);
    return new Promise<void>((resolve, reject) => {
      this.#joined = { resolve, reject };
      this.#connect();
    });
  }

  updateCapabilities(capabilities: readonly string[]): void {
    if (this.#self === undefined) throw meshError('SignalingError', 'updateCapabilities before join');
    this.#self = { ...this.#self, capabilities: [...capabilities] };
    if (this.#status === 'open' && this.#hub._reachable(this.#self.id)) this.#hub._update(this.#room, this.#self.id, capabilities);
  }

  signal(to: string, data: unknown): void {
    if (this.#self === undefined || this.#status !== 'open') return;
    this.#hub._signal(this.#room, this.#self.id, to, data);
  }

  leave(): Promise<void> {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#self !== undefined && this.#status === 'open' && this.#hub._reachable(this.#self.id)) {
      this.#hub._leave(this.#room, this.#self.id, this);
    }
    this.#setStatus('closed');
    this.#self = undefined;
    return Promise.resolve();
  }

  /** Simulates a crash: stops without a goodbye; the hub drops this peer at its next liveness check. */
  kill(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#killed = true;
    this.#status = 'closed';
    this.#self = undefined;
  }

  #killed = false;

  /** @internal Whether {@link kill} was called. */
  get _killed(): boolean {
    return this.#killed;
  }

  #connect(): void {
    if (this.#self === undefined || !this.#hub._reachable(this.#self.id)) return;
    this.#setStatus('open');
    this.#hub._join(this.#room, this.#self, this);
  }

  #check(): void {
    if (this.#self === undefined) return;
    const reachable = this.#hub._reachable(this.#self.id);
    if (this.#status === 'open' && !reachable) this.#setStatus('connecting');
    else if (this.#status === 'connecting' && reachable) this.#connect();
  }

  #setStatus(status: SignalingStatus): void {
    if (this.#status === status) return;
    this.#status = status;
    this.#handlers?.onStatus?.(status);
  }

  /** @internal */
  _view(view: ViewSnapshot): void {
    if (this.#self === undefined || view.version <= this.#lastVersion) return;
    this.#lastVersion = view.version;
    this.#handlers?.onView(view);
    const selfId = this.#self.id;
    if (this.#joined !== undefined && view.peers.some((p) => p.id === selfId)) {
      this.#joined.resolve();
      this.#joined = undefined;
    }
  }

  /** @internal */
  _signal(from: string, data: unknown): void {
    if (this.#handlers?.onSignal === undefined) this.#early.push([from, data]);
    else this.#handlers.onSignal(from, data);
  }

  /** @internal */
  _error(error: Error): void {
    this.#joined?.reject(error);
    this.#joined = undefined;
  }
}
