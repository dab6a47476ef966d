/**
 * Object words in questions → detector labels (the 80 COCO classes YOLOv8 reports): synonyms,
 * plurals and group words ("vehicles" → car, truck, bus, motorcycle). Pure.
 */

/** The detector's labels (the 80 COCO classes). */
export const DETECTOR_LABELS = [
  'person',
  'bicycle',
  'car',
  'motorcycle',
  'airplane',
  'bus',
  'train',
  'truck',
  'boat',
  'traffic light',
  'fire hydrant',
  'stop sign',
  'parking meter',
  'bench',
  'bird',
  'cat',
  'dog',
  'horse',
  'sheep',
  'cow',
  'elephant',
  'bear',
  'zebra',
  'giraffe',
  'backpack',
  'umbrella',
  'handbag',
  'tie',
  'suitcase',
  'frisbee',
  'skis',
  'snowboard',
  'sports ball',
  'kite',
  'baseball bat',
  'baseball glove',
  'skateboard',
  'surfboard',
  'tennis racket',
  'bottle',
  'wine glass',
  'cup',
  'fork',
  'knife',
  'spoon',
  'bowl',
  'banana',
  'apple',
  'sandwich',
  'orange',
  'broccoli',
  'carrot',
  'hot dog',
  'pizza',
  'donut',
  'cake',
  'chair',
  'couch',
  'potted plant',
  'bed',
  'dining table',
  'toilet',
  'tv',
  'laptop',
  'mouse',
  'remote',
  'keyboard',
  'cell phone',
  'microwave',
  'oven',
  'toaster',
  'sink',
  'refrigerator',
  'book',
  'clock',
  'vase',
  'scissors',
  'teddy bear',
  'hair drier',
  'toothbrush',
] as const;

/**
 * Words (singular or plural, lowercase) → the labels they name. Generic plural rules cover the
 * rest, and a label's own name names it. Look-alikes are not listed here: they come from
 * LOOKALIKES, for every word alike, so the table reads the same both ways.
 */
const SYNONYMS: Record<string, readonly string[]> = {
  people: ['person'],
  persons: ['person'],
  pedestrian: ['person'],
  pedestrians: ['person'],
  human: ['person'],
  humans: ['person'],
  man: ['person'],
  men: ['person'],
  woman: ['person'],
  women: ['person'],
  child: ['person'],
  children: ['person'],
  kid: ['person'],
  kids: ['person'],
  someone: ['person'],
  somebody: ['person'],
  anyone: ['person'],
  anybody: ['person'],
  walker: ['person'],
  walkers: ['person'],
  visitor: ['person'],
  visitors: ['person'],
  intruder: ['person'],
  intruders: ['person'],
  worker: ['person'],
  workers: ['person'],
  guy: ['person'],
  guys: ['person'],
  vehicle: ['car', 'truck', 'bus', 'motorcycle'],
  vehicles: ['car', 'truck', 'bus', 'motorcycle'],
  automobile: ['car'],
  automobiles: ['car'],
  auto: ['car'],
  // COCO has no van: the detector calls one a car or a truck.
  van: ['car', 'truck'],
  vans: ['car', 'truck'],
  taxi: ['car'],
  taxis: ['car'],
  lorry: ['truck'],
  lorries: ['truck'],
  pickup: ['truck'],
  pickups: ['truck'],
  bike: ['bicycle', 'motorcycle'],
  bikes: ['bicycle', 'motorcycle'],
  cycle: ['bicycle'],
  cyclist: ['bicycle'],
  cyclists: ['bicycle'],
  motorbike: ['motorcycle'],
  motorbikes: ['motorcycle'],
  scooter: ['motorcycle'],
  scooters: ['motorcycle'],
  plane: ['airplane'],
  planes: ['airplane'],
  aeroplane: ['airplane'],
  ship: ['boat'],
  ships: ['boat'],
  puppy: ['dog'],
  puppies: ['dog'],
  kitten: ['cat'],
  kittens: ['cat'],
  bag: ['backpack', 'handbag', 'suitcase'],
  bags: ['backpack', 'handbag', 'suitcase'],
  luggage: ['suitcase'],
  purse: ['handbag'],
  phone: ['cell phone'],
  phones: ['cell phone'],
  mobile: ['cell phone'],
  smartphone: ['cell phone'],
  television: ['tv'],
  sofa: ['couch'],
  table: ['dining table'],
  ball: ['sports ball'],
  animal: ['bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe'],
  animals: ['bird', 'cat', 'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe'],
  parrot: ['bird'],
  cockatoo: ['bird'],
  plant: ['potted plant'],
  fridge: ['refrigerator'],
};

/**
 * Labels the detector confuses with each other (a van or a pickup is reported as a car or a
 * truck): a word naming one of a family finds the others too, after its own label (`truck` →
 * truck, car; `car` → car, truck). One list, read both ways: symmetric by construction.
 */
const LOOKALIKES: readonly (readonly string[])[] = [['car', 'truck']];

/** The family of each label that has look-alikes (itself first). */
const FAMILY = new Map<string, readonly string[]>(
  LOOKALIKES.flatMap((f) => f.map((l) => [l, [l, ...f.filter((x) => x !== l)]] as const)),
);

/** Labels named, then their look-alikes (each once, in that order). */
function withLookalikes(named: readonly string[]): string[] {
  const out = [...named];
  for (const l of named) for (const x of FAMILY.get(l) ?? []) if (!out.includes(x)) out.push(x);
  return out;
}

const SINGLE = new Set<string>(DETECTOR_LABELS.filter((l) => !l.includes(' ')));
const MULTI = DETECTOR_LABELS.filter((l) => l.includes(' '));

/** The singular forms a plural word may come from. */
function singulars(w: string): string[] {
  const out = [w];
  if (w.endsWith('ies')) out.push(`${w.slice(0, -3)}y`);
  if (w.endsWith('es')) out.push(w.slice(0, -2));
  if (w.endsWith('s')) out.push(w.slice(0, -1));
  return out;
}

/** The labels one word names (lowercase), without look-alikes, or []. */
export function namedLabelsForWord(word: string): string[] {
  const w = word.toLowerCase();
  const syn = SYNONYMS[w];
  if (syn) return [...syn];
  for (const s of singulars(w)) {
    if (SINGLE.has(s)) return [s];
    const syn2 = SYNONYMS[s];
    if (syn2) return [...syn2];
  }
  return [];
}

/** Labels for one word (lowercase): those it names first, then their look-alikes; or []. */
export function labelsForWord(word: string): string[] {
  return withLookalikes(namedLabelsForWord(word));
}

export interface FoundLabel {
  /** The words as written in the question. */
  words: string;
  /** Every label the words may mean: `named`, then look-alikes. */
  labels: string[];
  /** The labels the words name (`truck` → truck), searched before look-alikes. */
  named: string[];
  /** Character range in the (lowercased) text. */
  start: number;
  end: number;
}

/** Every object mention in a text: multi-word classes first ("stop sign"), then single words. */
export function findLabels(text: string): FoundLabel[] {
  const lower = text.toLowerCase();
  const found: FoundLabel[] = [];
  const taken: [number, number][] = [];
  for (const m of MULTI) {
    const plural = `${m}s`;
    for (const form of [plural, m]) {
      let at = lower.indexOf(form);
      while (at >= 0) {
        const end = at + form.length;
        const boundary = (i: number) => i < 0 || i >= lower.length || !/[\p{L}\p{N}]/u.test(lower[i]!);
        if (boundary(at - 1) && boundary(end) && !taken.some(([a, b]) => at < b && end > a)) {
          found.push({ words: text.slice(at, end), labels: withLookalikes([m]), named: [m], start: at, end });
          taken.push([at, end]);
        }
        at = lower.indexOf(form, end);
      }
    }
  }
  for (const m of lower.matchAll(/[\p{L}]+/gu)) {
    const start = m.index;
    const end = start + m[0].length;
    if (taken.some(([a, b]) => start < b && end > a)) continue;
    const named = namedLabelsForWord(m[0]);
    if (named.length > 0)
      found.push({ words: text.slice(start, end), labels: withLookalikes(named), named, start, end });
  }
  return found.sort((a, b) => a.start - b.start);
}

/** A label for people to read, singular or plural. */
export function labelNoun(label: string, n: number): string {
  if (label === 'person') return n === 1 ? 'person' : 'people';
  if (n === 1) return label;
  if (label.endsWith('s') || label.endsWith('sh') || label.endsWith('ch')) return `${label}es`;
  if (/[^aeiou]y$/.test(label)) return `${label.slice(0, -1)}ies`;
  return `${label}s`;
}
