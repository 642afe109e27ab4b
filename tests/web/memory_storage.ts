/**
 * An in-memory `Storage` for the page's stores in tests.
 *
 * @module
 */

/** An in-memory `Storage`; `broken` makes every call throw, as a blocked storage does. */
export function memoryStorage(broken = false): Storage {
  const items = new Map<string, string>();
  const check = () => {
    if (broken) throw new DOMException("The operation is insecure.", "SecurityError");
  };
  return {
    get length() {
      return items.size;
    },
    key: (i) => [...items.keys()][i] ?? null,
    getItem: (key) => (check(), items.get(key) ?? null),
    setItem: (key, value) => (check(), void items.set(key, String(value))),
    removeItem: (key) => (check(), void items.delete(key)),
    clear: () => items.clear(),
  };
}
