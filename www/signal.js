// A minimal observer: a module that owns some state says "it changed" through a signal, and the
// modules above it subscribe; imports never have to point back down.

/**
 * @template {unknown[]} A
 * @typedef {object} Signal
 * @property {(fn: (...args: A) => void) => () => void} on subscribe; returns the unsubscribe
 * @property {(...args: A) => void} emit
 */

/**
 * @template {unknown[]} [A=[]]
 * @returns {Signal<A>}
 */
export function signal() {
  /** @type {Set<(...args: A) => void>} */
  const fns = new Set();
  return {
    on(fn) {
      fns.add(fn);
      return () => fns.delete(fn);
    },
    emit(...args) {
      for (const fn of [...fns]) fn(...args);
    },
  };
}
