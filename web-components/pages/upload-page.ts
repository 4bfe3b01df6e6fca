// Entry of / and /upload. Only what the page shows at once; nothing here pulls in model-viewer.
import '../app-header/app-header.ts';
import '../upload-panel/upload-panel.ts';
import '../job-queue/job-queue.ts';
