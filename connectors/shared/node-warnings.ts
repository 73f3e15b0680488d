/**
 * kafkajs 2.2.4 arms a timer with a negative delay on every idle fetch, which Node 24 reports as
 * TimeoutNegativeWarning (the timer still fires at once, as kafkajs expects). Hide that one warning, print the rest.
 */
export function hideKafkajsTimerWarning(): void {
  if ((globalThis as { __raglineWarningsFiltered?: boolean }).__raglineWarningsFiltered) return;
  (globalThis as { __raglineWarningsFiltered?: boolean }).__raglineWarningsFiltered = true;
  const listeners = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'TimeoutNegativeWarning') return;
    for (const l of listeners) l.call(process, warning);
  });
}
