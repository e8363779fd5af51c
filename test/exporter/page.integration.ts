/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The exporter's live page in a real browser: Debian's Chromium, headless,
 * driven with playwright-core (no browser download). Holders appear,
 * follow a hot-plug and an unplug without a reload, a dead VM says why,
 * the pool's balance shows as bars, and a hostile QOM path is text: no
 * element, no script, the exact characters on screen.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QmpClient } from '../../src/runtime/index.js';
import type { QmpTestServer } from '../../src/testing/index.js';
import { builtCli } from '../helpers/cli.js';
import {
  CHROMIUM,
  chromiumVersion,
  deadSocket,
  hostileServer,
  HOSTILE_PATH,
  installed,
  simulatedFleet,
  startExporter,
  tempDir,
  type Exporter,
} from './helpers.js';

const ready = builtCli('src/cli/main.js', 'exporter page tests') && installed(CHROMIUM, 'chromium');

describe.runIf(ready)('the live page in headless Chromium', () => {
  let dir: string;
  let profile: string;
  let sims: Map<string, QmpTestServer>;
  let evil: QmpTestServer;
  let exporter: Exporter;
  let browser: BrowserContext;
  let page: Page;
  const dialogs: string[] = [];
  const consoleErrors: string[] = [];

  beforeAll(async () => {
    dir = tempDir('exporter-page');
    profile = tempDir('chromium-profile');
    sims = await simulatedFleet(dir, 3);
    evil = await hostileServer(join(dir, 'evil.sock'));
    await deadSocket(join(dir, 'dead.sock'));
    exporter = await startExporter(['--socket-dir', dir, '--interval', '0.3']);
    process.stderr.write(`page: ${chromiumVersion()}\n`);
    // Playwright passes the profile as --user-data-dir itself (a fresh temp dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
      offline: false,
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(e.message));
    await page.goto(`${exporter.url}/`);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await exporter?.stop();
    await Promise.all([...(sims?.values() ?? []), evil].map((s) => s?.close()));
    for (const d of [dir, profile]) if (d) rmSync(d, { recursive: true, force: true });
  });

  /** The holders the page shows for one IOThread of one VM, as `type name`. */
  function holders(vm: string, iothread: string): Promise<string[]> {
    return page.evaluate(
      ([vm, io]) => {
        const section = [...document.querySelectorAll<HTMLElement>('section.vm')].find((s) => s.dataset.vm === vm);
        const row = [...(section?.querySelectorAll<HTMLElement>('tr.iothread') ?? [])].find(
          (r) => r.dataset.iothread === io,
        );
        return [...(row?.querySelectorAll('li.holder') ?? [])].map(
          (li) => `${li.querySelector('.kind')?.textContent} ${li.querySelector('.name')?.textContent}`,
        );
      },
      [vm, iothread] as const,
    );
  }

  it('shows every VM with its IOThreads, thread ids and holders', async () => {
    await expect
      .poll(() => holders('vm000', 'io0'), { timeout: 20_000 })
      .toEqual(['qom /machine/peripheral/vblk1', 'qom /machine/peripheral/vblk0']);
    expect(await holders('vm002', 'io1')).toEqual([
      'block-node disk2',
      'qom /machine/peripheral-anon/device[0]',
      'qom /machine/peripheral/vblk1',
      'qom /machine/peripheral/vscsi0',
    ]);
    const names = await page.locator('section.vm h2 .name').allTextContents();
    expect(names).toEqual(['dead', 'evil', 'vm000', 'vm001', 'vm002']);
    expect(await page.locator('section[data-vm="vm001"] tr[data-iothread="io1"] td.tid').textContent()).toBe('10002');
    await expect.poll(() => page.locator('#status').textContent()).toBe('live');
  });

  it('shows the balance of the pool as bars, and a dead VM as down with the reason', async () => {
    const widths = await page.evaluate(() =>
      [...document.querySelectorAll<HTMLElement>('section[data-vm="vm000"] tr.iothread')].map(
        (r) => (r.querySelector('.bar') as HTMLElement).style.width,
      ),
    );
    expect(widths).toEqual(['50%', '100%']); // io0: 2 holders, io1: 4
    expect(await page.locator('section[data-vm="dead"] .badge').textContent()).toBe('down');
    expect(await page.locator('section[data-vm="dead"] .error').textContent()).toMatch(
      /^QMP_ERR_CONNECT: .*ECONNREFUSED/,
    );
  });

  it('follows a hot-plug and an unplug without a reload', async () => {
    await using qmp = await QmpClient.connect({ path: join(dir, 'vm001.sock') });
    const before = await page.evaluate(() => document.body.dataset.updated);
    await qmp.execute('device_add', {
      driver: 'virtio-blk-pci',
      id: 'vblk2',
      bus: 'rp4',
      drive: 'disk3',
      iothread: 'io0',
    });
    await expect
      .poll(() => holders('vm001', 'io0'), { timeout: 10_000 })
      .toEqual(['qom /machine/peripheral/vblk2', 'qom /machine/peripheral/vblk1', 'qom /machine/peripheral/vblk0']);
    await qmp.execute('device_del', { id: 'vblk0' });
    await expect
      .poll(() => holders('vm001', 'io0'), { timeout: 10_000 })
      .toEqual(['qom /machine/peripheral/vblk2', 'qom /machine/peripheral/vblk1']);
    expect(await page.evaluate(() => document.body.dataset.updated)).not.toBe(before);
    expect(await page.evaluate(() => performance.getEntriesByType('navigation').length)).toBe(1); // no reload
  });

  it('with --hold, follows an unplug at once from its event (no periodic refresh for 10 minutes)', async () => {
    const held = await startExporter(['--socket-dir', dir, '--hold', '--interval', '600']);
    const second = await browser.newPage();
    try {
      await second.goto(`${held.url}/`);
      const io1 = (): Promise<number> =>
        second.evaluate(
          () => document.querySelectorAll('section[data-vm="vm002"] tr[data-iothread="io1"] li.holder').length,
        );
      await expect.poll(io1, { timeout: 10_000 }).toBe(4);
      await using qmp = await QmpClient.connect({ path: join(dir, 'vm002.sock') });
      await qmp.execute('device_del', { id: 'vscsi0' });
      await expect.poll(io1, { timeout: 5000 }).toBe(3);
    } finally {
      await second.close();
      await held.stop();
    }
  });

  it('shows a hostile QOM path and IOThread id as text: no element made, no script run', async () => {
    expect(await holders('evil', 'io<b>"0"</b>')).toEqual([`qom ${HOSTILE_PATH}`, 'kind-from-the-future thing0']);
    expect(await page.locator('section[data-vm="evil"] td.id').textContent()).toBe('io<b>"0"</b>');
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('section[data-vm="evil"] b').count()).toBe(0);
    // What a person sees: the markup as characters.
    expect(await page.locator('section[data-vm="evil"] li.holder .name').first().innerText()).toContain(
      '<img src=x onerror="alert(1)">',
    );
    expect(dialogs).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
