declare module 'gatehouse:plugin/audit@0.1.3' {
  export function note(ecosystem: string, name: string, version: string, message: string): void;
}
