// A node:test reporter used by scripts/test.js beside the spec reporter: writes one JSON line per test
// result and per summary, which scripts/test-accounting.ts reconciles against the declarations it finds in
// the test files. Only the fields the accounting needs are kept.
export default async function* testEventsReporter(source) {
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail' && event.type !== 'test:summary') continue
    const d = event.data
    yield (
      JSON.stringify({
        type: event.type,
        name: d.name,
        file: d.file,
        nesting: d.nesting,
        kind: d.details?.type ?? null,
        skip: d.skip !== undefined && d.skip !== false,
        todo: d.todo !== undefined && d.todo !== false,
        failureType: d.details?.error?.failureType ?? null,
        counts: d.counts ?? null,
      }) + '\n'
    )
  }
}
