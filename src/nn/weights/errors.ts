import { SslightError } from '../../core/errors';

/** A weights file cannot be read or does not fit the backbone: bad input, exit code 2. */
export class WeightsError extends SslightError {
  readonly exitCode = 2;
}
