// Importing registers the built-in callbacks.
import './progress';
import './jsonl';
import './checkpoint';
import './tensorboard';
import './knn_monitor';
