/** What a model's refusal, or an answer that says nothing, looks like (captions, summaries, checks). */
const REFUSALS: RegExp[] = [
  /^\s*$/,
  /\b(I'?m|I am) (sorry|afraid)\b/i,
  /\bI (cannot|can ?not|can't|am unable to|'m unable to|am not able to|do not|don't) (determine|see|identify|tell|describe|help|assist|provide|make out|know)\b/i,
  /\b(unable|impossible) to (determine|identify|tell|describe|see)\b/i,
  /\bas an AI\b/i,
  /^\W*(unknown|n\/a|none|no description|nothing)\W*$/i,
];

/** Whether a model's answer is a refusal or says nothing (dropped and counted, never summarized). */
export function isRefusal(text: string): boolean {
  return REFUSALS.some((r) => r.test(text));
}
