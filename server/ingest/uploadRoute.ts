import { Router } from '@koa/router';
import type { AppDeps } from '../http/deps.ts';

export function uploadsRouter(deps: AppDeps): Router {
  void deps;
  return new Router();
}
