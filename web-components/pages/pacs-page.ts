// Entry of /pacs: search a PACS node and retrieve studies or series.
import '../app-header/app-header.ts';
import '../pacs-browser/pacs-browser.ts';
