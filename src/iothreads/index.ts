/** IOThread holders on every QEMU: reported by QEMU where it can, derived from QOM elsewhere. */
export {
  inspectIothreads,
  serverFeatures,
  HOLDER_PROBES,
  type HolderSource,
  type InspectOptions,
  type IothreadReport,
  type ServerFeatures,
  type ServerIOThreadInfo,
} from './holders.js';
export {
  walkComposition,
  QomWalkError,
  DEFAULT_SKIPPED_TYPES,
  type QomObject,
  type QomWalk,
  type QomWalkOptions,
} from './qom.js';
