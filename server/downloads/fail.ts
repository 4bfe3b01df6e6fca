/**
 * Throws an error the app's error middleware turns into a response with this status and message
 * (the Koa convention: `status` + `expose`). Typed `never`, unlike `ctx.throw`, so narrowing works.
 */
export function fail(status: number, message: string): never {
  throw Object.assign(new Error(message), { status, expose: status < 500 });
}
