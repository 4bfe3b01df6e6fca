// three.js ships no types and @types/three is not a dependency: the little of STLLoader the tests use.
declare module 'three/examples/jsm/loaders/STLLoader.js' {
  export class STLLoader {
    parse(data: ArrayBuffer | string): { getAttribute(name: 'position'): { array: ArrayLike<number> } };
  }
}
