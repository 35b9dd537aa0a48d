/**
 * The local cluster page: reads `GET /cluster/state` about once a second (the next read starts
 * when the previous one ended) and shows the brokers, each topic's partition grid, the consumer
 * groups with their lag, and the emulator's event source mappings. When the broker or the page's
 * server stops answering it says so and keeps the last known state, and recovers by itself.
 */
import type {
  ClusterView,
  GroupView,
  PartitionView,
  TopicView,
} from '../../shared/cluster-view/cluster-view.js';
import type { MappingState } from '../../shared/cluster-view/emulator-state.js';
import type { KeyPlacement } from '../../shared/cluster-view/key-placement.js';
import type { BytesView, PartitionRecords, RecordView } from '../../shared/cluster-view/records.js';

const REFRESH_MS = 1_000;

const $ = <T extends HTMLElement>(id: string): T => {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no #${id}`);
  return element as T;
};

const ui = {
  status: $<HTMLParagraphElement>('status'),
  nodes: $<HTMLUListElement>('nodes'),
  topics: $<HTMLDivElement>('topics'),
  groups: $<HTMLDivElement>('groups'),
  mappings: $<HTMLDivElement>('mappings'),
  keyForm: $<HTMLFormElement>('key-form'),
  key: $<HTMLInputElement>('key'),
  keyTopic: $<HTMLSelectElement>('key-topic'),
  keyResult: $<HTMLParagraphElement>('key-result'),
  keyRecords: $<HTMLDivElement>('key-records'),
  keyRecordsResult: $<HTMLParagraphElement>('key-records-result'),
  recordsForm: $<HTMLFormElement>('records-form'),
  recordsTopic: $<HTMLSelectElement>('records-topic'),
  recordsPartition: $<HTMLInputElement>('records-partition'),
  recordsLimit: $<HTMLInputElement>('records-limit'),
  recordsResult: $<HTMLParagraphElement>('records-result'),
  records: $<HTMLDivElement>('records'),
};

type Child = Node | string | number | null | undefined | false;

/** An element with attributes and children; text is always set as text, never as HTML. */
const h = (tag: string, attributes: Record<string, string> = {}, ...children: Child[]) => {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
};

const time = (ms: number) => new Date(ms).toLocaleTimeString();
const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`;

/** The last view in which the broker answered: shown, marked as such, while it does not. */
let lastKnown: ClusterView | undefined;
/** End offsets of the previous read, for each partition's rate. */
let previousEnds = new Map<string, { end: number; at: number }>();
let rates = new Map<string, number>();
/** The partition the key tool last pointed at, highlighted in the grid. */
let placed: KeyPlacement | undefined;

const refresh = async (): Promise<void> => {
  try {
    const response = await fetch('/cluster/state', { cache: 'no-store' });
    if (!response.ok) throw new Error(`the page's server answered ${response.status}`);
    show((await response.json()) as ClusterView);
  } catch {
    ui.status.textContent = lastKnown
      ? `The page's server does not answer: showing what was known at ${time(lastKnown.at)}.`
      : "The page's server does not answer yet.";
    ui.status.className = 'status down';
  } finally {
    setTimeout(() => void refresh(), REFRESH_MS);
  }
};

const show = (view: ClusterView) => {
  if (view.reachable) {
    updateRates(view);
    lastKnown = view;
    ui.status.textContent = `Live: updated ${time(view.at)}.`;
    ui.status.className = 'status live';
  } else {
    ui.status.textContent = lastKnown
      ? `Broker down: no node answers. Showing topics and groups as known at ${time(lastKnown.at)}.`
      : 'Broker down: no node answers.';
    ui.status.className = 'status down';
  }
  const data = view.reachable ? view : (lastKnown ?? view);
  renderNodes(view);
  renderTopics(data.topics, !view.reachable);
  renderGroups(data.groups, !view.reachable);
  renderMappings(view);
  renderTopicChoices(data.topics);
};

const updateRates = (view: ClusterView) => {
  const ends = new Map<string, { end: number; at: number }>();
  rates = new Map();
  for (const topic of view.topics) {
    for (const p of topic.partitions) {
      const id = `${topic.name}:${p.partition}`;
      ends.set(id, { end: p.end, at: view.at });
      const before = previousEnds.get(id);
      if (before && view.at > before.at)
        rates.set(id, ((p.end - before.end) * 1000) / (view.at - before.at));
    }
  }
  previousEnds = ends;
};

const renderNodes = (view: ClusterView) => {
  ui.nodes.replaceChildren(
    ...view.nodes.map((n) =>
      h(
        'li',
        { class: `node ${n.up ? 'up' : 'down'}`, 'data-node': String(n.id) },
        h('strong', {}, n.id > 0 ? `Node ${n.id}` : 'Node ?'),
        ` ${n.address} `,
        h('span', { class: 'state' }, n.up ? 'up' : 'down'),
        n.controller ? h('span', { class: 'tag' }, 'active controller') : null,
      ),
    ),
  );
};

const replicaChip = (p: PartitionView, id: number) => {
  const inSync = p.isr.includes(id);
  const leader = p.leader === id;
  return h(
    'span',
    {
      class: `chip ${leader ? 'leader' : inSync ? 'isr' : 'out'}`,
      title: `node ${id}: ${leader ? 'leader' : inSync ? 'in sync' : 'out of sync'}`,
    },
    leader ? `★${id}` : String(id),
  );
};

const renderTopics = (topics: readonly TopicView[], stale: boolean) => {
  ui.topics.replaceChildren(
    ...topics.map((topic) =>
      h(
        'div',
        {
          class: `scroll${stale ? ' stale' : ''}`,
          tabindex: '0',
          role: 'region',
          'aria-label': `Partitions of ${topic.name}`,
        },
        h(
          'table',
          { 'data-topic': topic.name },
          h('caption', {}, topic.name, stale ? ' (last known)' : ''),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              ...['Partition', 'Leader', 'Replicas', 'Start', 'End', 'Rate/s', 'Records'].map((c) =>
                h('th', { scope: 'col' }, c),
              ),
            ),
          ),
          h(
            'tbody',
            {},
            ...topic.partitions.map((p) => {
              const rate = rates.get(`${topic.name}:${p.partition}`);
              const isPlaced = placed?.topic === topic.name && placed.partition === p.partition;
              return h(
                'tr',
                {
                  'data-partition': String(p.partition),
                  class: isPlaced ? 'placed' : '',
                },
                h('th', { scope: 'row' }, p.partition),
                h('td', { class: 'leader' }, p.leader === null ? 'none' : p.leader),
                h('td', { class: 'replicas' }, ...p.replicas.map((id) => replicaChip(p, id))),
                h('td', { class: 'start' }, p.start),
                h('td', { class: 'end' }, p.end),
                h('td', { class: 'rate' }, rate === undefined ? '–' : rate.toFixed(1)),
                h('td', {}, recordsButton(topic.name, p.partition)),
              );
            }),
          ),
        ),
      ),
    ),
  );
};

const lagBar = (lag: number | null, max: number) =>
  h(
    'span',
    { class: 'lag' },
    h('span', {
      class: 'bar',
      style: `width: ${lag && max > 0 ? Math.max(4, Math.round((lag / max) * 100)) : 0}%`,
      'aria-hidden': 'true',
    }),
    h('span', { class: 'value' }, lag === null ? 'no commit' : lag),
  );

const renderGroups = (groups: readonly GroupView[], stale: boolean) => {
  if (groups.length === 0) {
    ui.groups.replaceChildren(h('p', { class: 'hint' }, 'No consumer group on the broker.'));
    return;
  }
  ui.groups.replaceChildren(
    ...groups.map((g) => {
      const max = Math.max(0, ...g.partitions.map((p) => p.lag ?? 0));
      const short = (memberId: string | null) =>
        memberId === null
          ? 'none'
          : `member ${g.members.findIndex((m) => m.memberId === memberId) + 1}`;
      return h(
        'article',
        { class: `group${stale ? ' stale' : ''}`, 'data-group': g.groupId },
        h('h3', {}, g.groupId, ' ', h('span', { class: 'tag' }, g.state)),
        h(
          'ul',
          { class: 'members' },
          ...g.members.map((m, i) =>
            h(
              'li',
              {},
              h('strong', {}, `member ${i + 1}`),
              ` ${m.clientId} (${m.host}): `,
              Object.entries(m.assignment)
                .map(([topic, ps]) => `${topic} [${ps.join(', ')}]`)
                .join('; ') || 'no partition',
            ),
          ),
        ),
        h(
          'div',
          { class: 'scroll', tabindex: '0', role: 'region', 'aria-label': `Lag of ${g.groupId}` },
          h(
            'table',
            {},
            h(
              'thead',
              {},
              h(
                'tr',
                {},
                ...['Topic', 'Partition', 'Owner', 'Committed', 'End', 'Lag'].map((c) =>
                  h('th', { scope: 'col' }, c),
                ),
              ),
            ),
            h(
              'tbody',
              {},
              ...g.partitions.map((p) =>
                h(
                  'tr',
                  { 'data-topic': p.topic, 'data-partition': String(p.partition) },
                  h('td', {}, p.topic),
                  h('th', { scope: 'row' }, p.partition),
                  h('td', {}, short(p.memberId)),
                  h('td', { class: 'committed' }, p.committed ?? '–'),
                  h('td', {}, p.end),
                  h('td', { class: 'lag-cell' }, lagBar(p.lag, max)),
                ),
              ),
            ),
          ),
        ),
      );
    }),
  );
};

const renderMappings = (view: ClusterView) => {
  const { emulator } = view;
  if (emulator.kind !== 'read') {
    ui.mappings.replaceChildren(
      h(
        'p',
        { class: 'hint' },
        emulator.kind === 'off'
          ? 'The Kafka emulator does not serve its state (statePort is not set).'
          : `The Kafka emulator's state cannot be read: ${emulator.reason}.`,
      ),
    );
    return;
  }
  ui.mappings.replaceChildren(...emulator.mappings.map((m) => mappingCard(m, view.at)));
};

const mappingCard = (m: MappingState, now: number) => {
  const settings: [string, string][] = [
    ['Topic', m.topic],
    ['Group', m.groupId],
    ['Batch size', String(m.batchSize)],
    ['Batching window', `${m.batchingWindowMs / 1000} s`],
    ['Starting position', m.startingPosition],
    ['Mode', m.mode],
    ['Filters', m.filters.length > 0 ? m.filters.join(' or ') : 'none'],
    ['On failure', m.onFailure ?? 'none'],
    ['Status', m.status],
  ];
  return h(
    'article',
    { class: 'mapping', 'data-function': m.functionKey },
    h('h3', {}, m.functionKey),
    h(
      'dl',
      { class: 'settings' },
      ...settings.flatMap(([name, value]) => [h('dt', {}, name), h('dd', {}, value)]),
    ),
    ...m.pollers.map((p, i) =>
      h(
        'div',
        { class: 'poller' },
        h(
          'p',
          {},
          h('strong', {}, `Poller ${i + 1}`),
          `: partitions [${p.assigned.join(', ')}]; `,
          h('span', { class: 'rate' }, `${p.invocationsPerSecond.toFixed(1)} invocations/s`),
          `; ${p.invocations} invocations, `,
          h('span', { class: 'retries' }, `${p.retries} retries`),
          `, ${p.errors} errors, ${p.recordsFilteredOut} filtered out, ${p.recordsSentToDestination} sent to the on-failure destination`,
        ),
        p.lastError
          ? h(
              'p',
              { class: 'last-error' },
              `Last error (${time(p.lastError.at)}): ${p.lastError.message}`,
            )
          : null,
        h(
          'ul',
          { class: 'in-flight-list' },
          ...p.partitions
            .filter((o) => o.inFlight)
            .map((o) => {
              const f = o.inFlight;
              if (!f) return null;
              return h(
                'li',
                { class: 'in-flight', 'data-partition': String(o.partition) },
                `In flight on partition ${o.partition}: offsets ${f.firstOffset ?? f.lastOffset}–${f.lastOffset} (${f.records} records) for ${seconds(now - f.since)}, ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}`,
                f.lastError ? `; last error: ${f.lastError}` : '',
              );
            }),
        ),
      ),
    ),
  );
};

const renderTopicChoices = (topics: readonly TopicView[]) => {
  const names = topics.map((t) => t.name);
  for (const select of [ui.keyTopic, ui.recordsTopic]) {
    const current = [...select.options].map((o) => o.value);
    if (names.join('\n') === current.join('\n')) continue;
    const chosen = select.value;
    select.replaceChildren(...names.map((n) => h('option', { value: n }, n)));
    if (names.includes(chosen)) select.value = chosen;
  }
};

/** A partition's "Records" button in the grid: fills the records form and reads them. */
const recordsButton = (topic: string, partition: number) => {
  const button = h(
    'button',
    { type: 'button', 'aria-label': `Latest records of ${topic} partition ${partition}` },
    'Show',
  );
  button.addEventListener('click', () => {
    ui.recordsTopic.value = topic;
    ui.recordsPartition.value = String(partition);
    void showRecords(ui.records, ui.recordsResult, { topic, partition });
    ui.recordsForm.scrollIntoView({ block: 'nearest' });
    ui.recordsTopic.focus();
  });
  return button;
};

const bytes = (view: BytesView | null) =>
  view === null
    ? h('span', { class: 'hint' }, 'null')
    : h(
        'span',
        { class: view.encoding === 'base64' ? 'base64' : '' },
        view.encoding === 'base64' ? `base64:${view.text}` : view.text,
        view.truncated ? h('span', { class: 'hint' }, ` … (${view.bytes} bytes)`) : null,
      );

const valueCell = (record: RecordView) => {
  const { value } = record;
  if (value.kind === 'tombstone')
    return h('td', { class: 'value' }, h('em', {}, 'tombstone (no value)'));
  if (value.kind === 'raw')
    return h(
      'td',
      { class: 'value raw' },
      h('span', { class: 'tag' }, 'raw'),
      ' ',
      bytes(value.raw),
    );
  const n = value.notification;
  return h(
    'td',
    { class: 'value notification' },
    h('span', { class: 'tag' }, 'notification'),
    ` from ${n.from.name} (${n.from.id}) to ${n.to.name} (${n.to.id}): `,
    h('q', { class: 'message' }, n.message),
    h('br', {}),
    h('small', { class: 'id' }, `id ${n.id}, created ${n.createdAt}`),
  );
};

const recordsTable = (result: PartitionRecords) =>
  h(
    'div',
    {
      class: 'scroll',
      tabindex: '0',
      role: 'region',
      'aria-label': `Records of ${result.topic} partition ${result.partition}`,
    },
    h(
      'table',
      { class: 'records', 'data-topic': result.topic, 'data-partition': String(result.partition) },
      h(
        'caption',
        {},
        result.key === null
          ? `${result.topic} partition ${result.partition}: the latest ${result.records.length} of offsets ${result.start}–${result.end - 1}`
          : `Key "${result.key}" on ${result.topic} partition ${result.partition}: its latest ${result.records.length} among offsets ${result.from}–${result.end - 1}`,
        result.complete ? '' : ' (the read stopped at its deadline: some may be missing)',
      ),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['Offset', 'Time', 'Key', 'Headers', 'Value'].map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      h(
        'tbody',
        {},
        ...result.records.map((r) =>
          h(
            'tr',
            {
              'data-offset': String(r.offset),
              ...(r.value.kind === 'notification' ? { 'data-id': r.value.notification.id } : {}),
            },
            h('th', { scope: 'row' }, r.offset),
            h('td', {}, new Date(r.timestamp).toLocaleString()),
            h('td', { class: 'key' }, bytes(r.key)),
            h(
              'td',
              { class: 'headers' },
              r.headers.length === 0
                ? '–'
                : h(
                    'ul',
                    {},
                    ...r.headers.map((hd) => h('li', {}, `${hd.name}: `, bytes(hd.value))),
                  ),
            ),
            valueCell(r),
          ),
        ),
      ),
    ),
  );

/** Reads a partition's latest records (of `key` only, when given) into `target`. */
const showRecords = async (
  target: HTMLElement,
  status: HTMLElement,
  request: { topic: string; partition: number; key?: string },
): Promise<void> => {
  const query = new URLSearchParams({
    topic: request.topic,
    partition: String(request.partition),
    limit: ui.recordsLimit.value || '10',
    ...(request.key === undefined ? {} : { key: request.key }),
  });
  status.textContent = 'Reading records…';
  target.setAttribute('aria-busy', 'true');
  try {
    const response = await fetch(`/cluster/records?${query}`, { cache: 'no-store' }).catch(
      () => undefined,
    );
    if (!response?.ok) {
      const body = (await response?.json().catch(() => undefined)) as
        | { error?: { message?: string } }
        | undefined;
      status.textContent = `No records: ${body?.error?.message ?? "the page's server does not answer"}.`;
      return;
    }
    const result = (await response.json()) as PartitionRecords;
    status.textContent =
      result.records.length === 0
        ? `No record${request.key === undefined ? '' : ` with key "${request.key}"`} on ${result.topic} partition ${result.partition} (offsets ${result.from}–${result.end - 1} read).`
        : `${result.records.length} record${result.records.length === 1 ? '' : 's'} read.`;
    target.replaceChildren(recordsTable(result));
  } finally {
    target.removeAttribute('aria-busy');
  }
};

ui.recordsForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void showRecords(ui.records, ui.recordsResult, {
    topic: ui.recordsTopic.value,
    partition: Number(ui.recordsPartition.value),
  });
});

ui.keyForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const key = ui.key.value;
  const topic = ui.keyTopic.value;
  void (async () => {
    const query = topic ? `?topic=${encodeURIComponent(topic)}` : '';
    const response = await fetch(`/cluster/keys/${encodeURIComponent(key)}${query}`).catch(
      () => undefined,
    );
    if (!response?.ok) {
      const body = (await response?.json().catch(() => undefined)) as
        | { error?: { message?: string } }
        | undefined;
      ui.keyResult.textContent = `No answer: ${body?.error?.message ?? "the page's server does not answer"}.`;
      return;
    }
    placed = (await response.json()) as KeyPlacement;
    ui.keyResult.textContent = `Key "${placed.key}" goes to partition ${placed.partition} of ${placed.topic}: the producer's partitioner (the Java client's) takes the murmur2 hash of the key's bytes, makes it positive, and divides by the ${placed.partitions} partitions; the remainder is the partition. Every record with this key lands there, in order.`;
    if (lastKnown) renderTopics(lastKnown.topics, false);
    await showRecords(ui.keyRecords, ui.keyRecordsResult, placed);
  })();
});

void refresh();
