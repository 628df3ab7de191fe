/**
 * The few `Reflect` metadata functions that @peculiar/x509's dependency tsyringe calls
 * (`defineMetadata`, `getMetadata`, `getOwnMetadata`), so the library loads without a
 * polyfill package. Import this module before `@peculiar/x509`. Installs nothing when a
 * full polyfill (reflect-metadata, core-js) is already present.
 */

type Target = object;
type MetadataMap = Map<unknown, unknown>;

interface ReflectMetadata {
  defineMetadata(key: unknown, value: unknown, target: Target, property?: PropertyKey): void;
  getOwnMetadata(key: unknown, target: Target, property?: PropertyKey): unknown;
  getMetadata(key: unknown, target: Target, property?: PropertyKey): unknown;
}

const reflect = Reflect as typeof Reflect & Partial<ReflectMetadata>;

if (typeof reflect.getMetadata !== 'function') {
  const store = new WeakMap<Target, Map<PropertyKey | undefined, MetadataMap>>();
  const own = (target: Target, property: PropertyKey | undefined, create: boolean): MetadataMap | undefined => {
    let byProperty = store.get(target);
    if (!byProperty) {
      if (!create) return undefined;
      byProperty = new Map();
      store.set(target, byProperty);
    }
    let map = byProperty.get(property);
    if (!map && create) {
      map = new Map();
      byProperty.set(property, map);
    }
    return map;
  };
  const getOwnMetadata: ReflectMetadata['getOwnMetadata'] = (key, target, property) => own(target, property, false)?.get(key);
  const polyfill: ReflectMetadata = {
    defineMetadata(key, value, target, property) {
      own(target, property, true)!.set(key, value);
    },
    getOwnMetadata,
    getMetadata(key, target, property) {
      // Walk the prototype chain, as reflect-metadata does.
      for (let t: Target | null = target; t !== null; t = Object.getPrototypeOf(t) as Target | null) {
        const map = own(t, property, false);
        if (map?.has(key)) return map.get(key);
      }
      return undefined;
    },
  };
  Object.assign(reflect, polyfill);
}

export {};
