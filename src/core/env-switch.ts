/**
 * Vigil's on/off environment switches (VIGIL_HW_DECODE, VIGIL_MALLOC_TRIM, …) are on unless set to
 * one of these words; one reading for all of them.
 */
const OFF = /^(0|off|false|no)$/i;

/** Whether an on/off switch's value turns it off (unset or anything else leaves it on). */
export function switchedOff(value: string | undefined): boolean {
  return OFF.test(value ?? '');
}
