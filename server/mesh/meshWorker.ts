import { parentPort, workerData } from 'node:worker_threads';
import type { LabelArray } from '../volume/volume.ts';
import { meshSegment, type MeshedSegment, type MeshGeometry, type MeshJob, type MeshSettings } from './meshSegment.ts';

/**
 * Worker thread of meshPool.ts: gets the label map once (shared memory, not copied) and meshes one
 * structure per message, sending the mesh back with its buffers transferred.
 */

export interface MeshWorkerData {
  data: LabelArray;
  geometry: MeshGeometry;
  settings: MeshSettings;
}

export interface MeshWorkerRequest {
  id: number;
  job: MeshJob;
}

export type MeshWorkerReply =
  | { id: number; ok: true; result: MeshedSegment }
  | { id: number; ok: false; message: string };

const port = parentPort;
if (port) {
  const { data, geometry, settings } = workerData as MeshWorkerData;
  port.on('message', (request: MeshWorkerRequest) => {
    meshSegment(data, geometry, request.job, settings).then(
      (result) => {
        const buffers = new Set<ArrayBuffer>([result.positions.buffer, result.normals.buffer, result.indices.buffer] as ArrayBuffer[]);
        port.postMessage({ id: request.id, ok: true, result } satisfies MeshWorkerReply, [...buffers]);
      },
      (err: unknown) => {
        port.postMessage({ id: request.id, ok: false, message: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies MeshWorkerReply);
      },
    );
  });
}
