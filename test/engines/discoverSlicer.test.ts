import { test } from 'node:test';
import assert from 'node:assert/strict';
import { discoverSlicer, slicerCandidates, type DiscoveryDeps } from '../../server/engines/slicer/discoverSlicer.ts';

function fakeFs(
  platform: NodeJS.Platform,
  tree: Record<string, string[]>,
  executables: string[],
  env: NodeJS.ProcessEnv = {},
  home = '/home/ana',
): DiscoveryDeps {
  return { platform, env, home, listDir: (p) => tree[p] ?? [], isExecutable: (p) => executables.includes(p) };
}

test('Windows: per-user and all-users installs, newest version first (5.10 after 5.9 is newer)', () => {
  const deps = fakeFs(
    'win32',
    {
      'C:\\Users\\ana\\AppData\\Local\\slicer.org': ['Slicer 5.6.2', 'Slicer 5.10.0', 'Slicer 5.9.0', 'readme.txt'],
      'C:\\Program Files\\slicer.org': ['Slicer 5.8.1'],
    },
    [
      'C:\\Users\\ana\\AppData\\Local\\slicer.org\\Slicer 5.6.2\\Slicer.exe',
      'C:\\Program Files\\slicer.org\\Slicer 5.8.1\\Slicer.exe',
    ],
    { LOCALAPPDATA: 'C:\\Users\\ana\\AppData\\Local', ProgramFiles: 'C:\\Program Files' },
  );
  assert.deepEqual(slicerCandidates(deps), [
    'C:\\Users\\ana\\AppData\\Local\\slicer.org\\Slicer 5.10.0\\Slicer.exe',
    'C:\\Users\\ana\\AppData\\Local\\slicer.org\\Slicer 5.9.0\\Slicer.exe',
    'C:\\Program Files\\slicer.org\\Slicer 5.8.1\\Slicer.exe',
    'C:\\Users\\ana\\AppData\\Local\\slicer.org\\Slicer 5.6.2\\Slicer.exe',
  ]);
  // 5.10 and 5.9 folders hold no Slicer.exe (interrupted install): the newest working one wins.
  assert.equal(discoverSlicer(deps), 'C:\\Program Files\\slicer.org\\Slicer 5.8.1\\Slicer.exe');
});

test('macOS: /Applications/Slicer.app and versioned apps', () => {
  const deps = fakeFs(
    'darwin',
    {
      '/Applications': ['Slicer.app', 'Safari.app', 'Slicer-5.8.1.app'],
      '/Users/ana/Applications': ['Slicer 5.6.2.app'],
    },
    ['/Applications/Slicer.app/Contents/MacOS/Slicer'],
    {},
    '/Users/ana',
  );
  assert.deepEqual(slicerCandidates(deps), [
    '/Applications/Slicer-5.8.1.app/Contents/MacOS/Slicer',
    '/Users/ana/Applications/Slicer 5.6.2.app/Contents/MacOS/Slicer',
    '/Applications/Slicer.app/Contents/MacOS/Slicer',
  ]);
  assert.equal(discoverSlicer(deps), '/Applications/Slicer.app/Contents/MacOS/Slicer');
});

test('Linux: Slicer-x.y.z folders under home, /opt and /usr/local', () => {
  const deps = fakeFs(
    'linux',
    {
      '/home/ana': ['Slicer-5.6.2-linux-amd64', 'Downloads'],
      '/opt': ['Slicer-5.8.1-linux-amd64', 'Slicer-5.8.1-linux-amd64.tar.gz'],
      '/usr/local': [],
    },
    ['/home/ana/Slicer-5.6.2-linux-amd64/Slicer', '/opt/Slicer-5.8.1-linux-amd64/Slicer'],
  );
  assert.equal(discoverSlicer(deps), '/opt/Slicer-5.8.1-linux-amd64/Slicer');
  assert.equal(slicerCandidates(deps)[0], '/opt/Slicer-5.8.1-linux-amd64/Slicer');
  assert.equal(discoverSlicer(fakeFs('linux', {}, [])), undefined);
});
