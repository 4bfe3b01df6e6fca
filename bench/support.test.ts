import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cpuTicksOfStat, cpuWindow, processCpuMs } from './support.ts';

test('cpuTicksOfStat adds utime and stime, whatever the command name holds', () => {
  // Fields after the name: state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
  const line = '4242 (Orthanc (x) y) S 1 4242 4242 0 -1 4194560 9 0 0 0 123 45 0 0 20 0 9 0 1000 2000 300\n';
  assert.equal(cpuTicksOfStat(line), 168);
  assert.throws(() => cpuTicksOfStat('garbage'), /not a \/proc/);
});

const procSkip = existsSync('/proc/self/stat')
  ? false
  : 'no /proc on this system: benchmark CPU figures are left out there';

test('cpuWindow reports the CPU a process spent per instance and how busy the machine was', { skip: procSkip }, () => {
  const window = cpuWindow(process.pid);
  const before = process.cpuUsage();
  const until = performance.now() + 300;
  let x = 0;
  while (performance.now() < until) x += Math.sqrt(x + 1);
  const spentMs = (() => {
    const d = process.cpuUsage(before);
    return (d.user + d.system) / 1000;
  })();
  const { cpuMsPerInstance, machineBusyPercent } = window.end(10);
  assert.ok(x > 0);
  assert.ok(cpuMsPerInstance !== undefined && machineBusyPercent !== undefined);
  // /proc counts in clock ticks (10 ms at the usual 100 Hz): per instance within a few ticks of Node's own count.
  assert.ok(Math.abs(cpuMsPerInstance * 10 - spentMs) <= 40, `${cpuMsPerInstance * 10} ms vs ${spentMs} ms`);
  // One thread kept a core busy the whole time: at least a share of one CPU among all of them.
  assert.ok(machineBusyPercent > 0 && machineBusyPercent <= 100, String(machineBusyPercent));
});

test('processCpuMs is undefined for a process that does not exist', () => {
  assert.equal(processCpuMs(undefined), undefined);
  assert.equal(processCpuMs(2 ** 22 + 1), undefined);
});
