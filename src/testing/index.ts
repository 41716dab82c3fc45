/**
 * `meshrtc/testing`: simulation and test helpers. A seeded in-memory network and signaling hub, a simulated
 * clock, and the contract suites every implementation of a meshrtc interface must pass.
 */
export { SimulatedClock } from '../clock/simulated.js';
export { MemoryNetwork, MemoryTransport, type MemoryNetworkOptions } from '../transport/memory.js';
export { MemorySignalingHub, MemorySignaling, MEMORY_SIGNALING_NODE, type MemorySignalingHubOptions } from '../signaling/memory.js';
export { createSimulation, type Simulation, type SimulationOptions } from './simulation.js';
export { seededRandom } from '../random.js';
export {
  startEdgePeer,
  startSignalingProcess,
  type EdgePeerOptions,
  type EdgePeerProcess,
  type SignalingProcess,
} from './processes.js';
