// model-viewer loads "the meshopt decoder script" before using the decoder that three.js already
// bundles; this local no-op script satisfies that step without a request to a public CDN.
