/**
 * Connections that outlive QEMU restarts, against real QEMU (7.2, 10.0 and
 * 11.1) killed and started again on the same socket: `connect({
 * waitForSocket })` while QEMU is not up yet, and ReconnectingQmpClient
 * across a crash and a quit.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { QmpClient, QmpDisconnectedError, ReconnectingQmpClient, type QmpEventGap } from '../../src/runtime/index.js';
import {
  OLDEST_AND_NEWEST,
  QEMU_BINARY,
  qemuAvailable,
  startQemu as startAnyQemu,
  stopAllQemu,
} from '../helpers/qemu.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 1000 && !cond(); i++) await sleep(10);
  expect(cond(), what).toBe(true);
}

describe.each(OLDEST_AND_NEWEST)('connections that outlive QEMU restarts (real QEMU %s)', (release) => {
  const startQemu = () => startAnyQemu({ release });
  describe.runIf(qemuAvailable(QEMU_BINARY, release))('connect and ReconnectingQmpClient', () => {
    afterAll(stopAllQemu);

    it('connect({ waitForSocket }) waits for a QEMU that is still starting', async () => {
      const qemu = await startQemu();
      await qemu.kill();
      const connecting = QmpClient.connect({ path: qemu.socket }, { waitForSocket: true, timeout: 20_000 });
      await sleep(200);
      await qemu.relaunch();
      await using qmp = await connecting;
      expect(await qmp.execute('query-status')).toMatchObject({ status: 'prelaunch' });
    });

    it('ReconnectingQmpClient: pending calls reject, the same capabilities again, events go on with the gap marked', async () => {
      const qemu = await startQemu();
      await using qmp = await ReconnectingQmpClient.connect(
        { path: qemu.socket },
        { oob: true, reconnect: { initialDelay: 50, maxDelay: 500 } },
      );
      const gaps: QmpEventGap[] = [];
      qmp.onReconnect((session, gap) => {
        gaps.push(gap);
        expect(session.oobEnabled).toBe(true);
      });
      const resumes = qmp.events(['RESUME']);
      await qmp.execute('cont');
      expect((await resumes.next()).value?.gap).toBeUndefined();
      const firstPid = qemu.pid;

      // Crash: calls in flight reject, and are not sent again.
      const inFlight = Array.from({ length: 200 }, () => qmp.execute('query-status').catch((e: unknown) => e));
      await qemu.kill('SIGKILL');
      const outcomes = await Promise.all(inFlight);
      expect(outcomes.some((o) => o instanceof QmpDisconnectedError)).toBe(true);
      await until(() => qmp.connectionState === 'reconnecting', 'reconnecting');
      await sleep(300);
      await qemu.relaunch();
      expect(qemu.pid).not.toBe(firstPid);
      await until(() => qmp.reconnects === 1, 'reconnected to the new QEMU');
      expect(qmp.session?.oobEnabled).toBe(true);
      expect(await qmp.execute('query-status')).toMatchObject({ status: 'prelaunch', running: false });
      expect(await qmp.execute('query-yank', undefined, { oob: true })).toEqual([{ type: 'chardev', id: 'qmp0' }]);
      await qmp.execute('cont');
      const after = (await resumes.next()).value;
      expect(after?.event).toBe('RESUME');
      expect(after?.gap).toEqual(gaps[0]);
      expect(resumes.gaps).toBe(1);

      // quit: resolves, and the client comes back to the next QEMU.
      expect(await qmp.execute('quit')).toEqual({});
      await until(() => qmp.connectionState === 'reconnecting', 'reconnecting after quit');
      await until(() => {
        try {
          process.kill(qemu.pid, 0);
          return false;
        } catch {
          return true;
        }
      }, 'QEMU has quit');
      await qemu.relaunch();
      await until(() => qmp.reconnects === 2, 'reconnected after quit');
      expect(await qmp.execute('query-status')).toMatchObject({ status: 'prelaunch' });
    });
  });
});
