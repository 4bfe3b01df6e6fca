/** The three QIDO-RS search levels (PS3.18 §10.6). */
export type QidoLevel = 'studies' | 'series' | 'instances';
