// Entry of /files. The 3D viewer is a dynamic import inside ag-model-preview, loaded on first use.
import '../app-header/app-header.ts';
import '../results-list/results-list.ts';
