import { chromium } from 'playwright-core';
import { PGliteDatabase } from './server/db/pgliteDatabase.ts';
