import "@testing-library/jest-dom/vitest";

// jsdom has no layout engine and so no ResizeObserver; sizes stay 0 and views fall back to a
// default viewport.
if (!("ResizeObserver" in globalThis)) {
  globalThis.ResizeObserver = class {
    observe() {}
    unobserve() {}
    disconnect() {}
  } as unknown as typeof ResizeObserver;
}
