/**
 * Probe queries with their answers on QEMU 7.2 (Debian 12's
 * qemu-system-x86_64), QEMU 10.0 (its schema with every condition
 * holding, or Debian trixie's build: the queries avoid what differs) and
 * QEMU 11.1 (Debian sid's build; the same as 10.0's but where given).
 *
 * Every answer is libvirt's: during development each query was also run
 * through a line-by-line port of libvirt's virQEMUQAPISchemaPathGet on
 * the same data, and they agreed on all of them. Together they cover every
 * step kind: plain member, *optional, +branch, ^value (with /$feature),
 * !json-type, $feature on commands, events and objects, arrays flattened
 * and alternates tried branch by branch.
 */
export interface ProbeCase {
  query: string;
  qemu72: boolean;
  qemu100: boolean;
  qemu111: boolean;
}

const row = (query: string, qemu72: boolean, qemu100: boolean, qemu111 = qemu100): ProbeCase => ({
  query,
  qemu72,
  qemu100,
  qemu111,
});

export const PROBE_CASES: readonly ProbeCase[] = [
  // The examples.
  row('query-iothreads/ret-type/poll-max-ns', true, true),
  row('query-iothreads/ret-type/holders', false, false),
  row('query-iothreads/ret-type/poll-weight', false, false, true),
  row('object-add/arg-type/+iothread/*poll-weight', false, false, true),
  row('query-blockstats/ret-type/stats/zone_append_operations', false, true),
  row('blockdev-add/arg-type/+nbd/server/+unix/path', true, true),
  // Entries alone, arg-type / ret-type.
  row('query-status', true, true),
  row('query-status/arg-type', true, true),
  row('no-such-command', false, false),
  row('no-such-command/arg-type', false, false),
  row('SHUTDOWN/ret-type', false, false),
  row('migrate/arg-type/channels', false, true),
  // Members, optional members (arrays flattened: query-iothreads returns a list).
  row('query-iothreads/ret-type/id', true, true),
  row('blockdev-add/arg-type/driver', true, true),
  row('blockdev-add/arg-type/*node-name', true, true),
  row('blockdev-add/arg-type/*driver', false, false),
  row('object-add/arg-type/+iothread/*poll-max-ns', true, true),
  row('SHUTDOWN/arg-type/guest', true, true),
  // Union branches.
  row('blockdev-add/arg-type/+nbd/server/+inet/host', true, true),
  row('block-export-add/arg-type/+vhost-user-blk/addr/+unix/path', true, true),
  row('object-add/arg-type/+iothread/+x', false, false),
  row('query-status/ret-type/+running', false, false),
  // Enum values, and a feature of an enum value.
  row('blockdev-add/arg-type/+file/aio/^io_uring', true, true),
  row('blockdev-add/arg-type/+file/aio/^no-such-mode', false, false),
  row('query-status/ret-type/status/^running', true, true),
  row('SHUTDOWN/arg-type/reason/^guest-reset', true, true),
  row('set-action/arg-type/*reboot/^shutdown', true, true),
  row('query-status/ret-type/running/^true', false, false),
  row('migrate-set-capabilities/arg-type/capabilities/capability/^x-colo/$unstable', true, true),
  row('migrate-set-capabilities/arg-type/capabilities/capability/^postcopy-ram/$unstable', false, false),
  // JSON types of built-ins.
  row('query-status/ret-type/running/!boolean', true, true),
  row('query-status/ret-type/running/!string', false, false),
  row('query-iothreads/ret-type/id/!string', true, true),
  row('query-cpu-model-expansion/ret-type/model/props', true, true),
  row('query-cpu-model-expansion/ret-type/model/props/!value', true, true),
  // Alternates: BlockdevRef is BlockdevOptions or a node name.
  row('blockdev-add/arg-type/+qcow2/file/+file/filename', true, true),
  row('blockdev-add/arg-type/+qcow2/file/!string', true, true),
  row('blockdev-add/arg-type/+qcow2/file/!int', false, false),
  // Features of commands and objects.
  row('device_add/$json-cli', true, true),
  row('device_add/$json-cli-hotplug', true, true),
  row('blockdev-snapshot/$allow-write-only-overlay', true, true),
  row('x-query-virtio/$unstable', true, true),
  row('query-status/$allow-oob', false, false),
  row('blockdev-add/arg-type/+file/$dynamic-auto-read-only', true, true),
  row('blockdev-add/arg-type/+file/$no-such-feature', false, false),
  row('query-iothreads/ret-type/$unstable', false, false),
  // The introspection schema describing itself.
  row('query-qmp-schema/ret-type/+builtin/json-type/^int', true, true),
  row('query-qmp-schema/ret-type/+enum/members/features', true, true),
  row('query-qmp-schema/ret-type/+object/members/*default', true, true),
];

/** The smallest useful reply: query-iothreads returning objects with poll-max-ns. */
export const TINY_INTROSPECTION = [
  { name: 'query-iothreads', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '[1]' },
  { name: '0', 'meta-type': 'object', members: [] },
  { name: '1', 'meta-type': 'object', members: [{ name: 'poll-max-ns', type: 'int' }] },
  { name: '[1]', 'meta-type': 'array', 'element-type': '1' },
  { name: 'int', 'meta-type': 'builtin', 'json-type': 'int' },
];
