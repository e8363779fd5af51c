/** `qapi-ts exporter`: IOThreads of a fleet of VMs for Prometheus, and a live page. */
export { Fleet, socketName, type FleetOptions, type NamedTarget } from './fleet.js';
export { Vm, CHANGE_EVENTS, DEFAULT_VM_OPTIONS, type VmOptions } from './vm.js';
export { renderMetrics, escapeLabel, CONTENT_TYPE } from './metrics.js';
export { ExporterServer, type ExporterServerOptions } from './server.js';
export {
  viewIothreads,
  holderName,
  SnapshotLimitError,
  DEFAULT_SNAPSHOT_LIMITS,
  type HolderView,
  type IothreadView,
  type SnapshotLimits,
  type VmSnapshot,
} from './snapshot.js';
