/**
 * Minimal typed event emitter. Delivery is deferred to a microtask: a listener (MQTT publish, logging)
 * runs after the gate code that produced the event has finished, and a listener that throws surfaces as
 * an uncaught exception of its own instead of unwinding through, and corrupting, gate state.
 */
export class Emitter<Events extends { [K in keyof Events]: (...args: never[]) => void }> {
  private readonly listeners = new Map<keyof Events, Set<(...args: never[]) => void>>();

  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): void {
    const set = this.listeners.get(event);
    if (set === undefined || set.size === 0) return;
    for (const listener of [...set]) {
      queueMicrotask(() => (listener as (...a: typeof args) => void)(...args));
    }
  }
}
