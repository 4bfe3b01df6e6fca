// dcmjs ships no typings; dcmjsData.ts is its only user and types what it takes from it.
declare module 'dcmjs' {
  const dcmjs: unknown;
  export default dcmjs;
}
