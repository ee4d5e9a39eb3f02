// Kept for importers of the old path; the one implementation is in src/core/progress.ts.
export { formatDuration } from '../../src/core/progress';
