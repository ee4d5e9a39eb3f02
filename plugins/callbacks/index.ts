// Importing registers the built-in callbacks.
import './progress';
import './jsonl';
import './checkpoint';
import './knn_monitor';
