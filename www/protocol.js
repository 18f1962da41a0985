// The messages between the page and the engine worker, as JSDoc types. The source of truth is
// src/web/protocol.rs (the `Request` structs and the `Event` enum: serde, snake_case, a `type` tag,
// the `merged` event included): these are exactly the JSON shapes the Rust side reads and writes. Nothing runs here; the
// other modules import the types with `import('./protocol.js').Name`.

// ------------------------------------------------------------------ shared words

/** Which checkpoint of the pair. @typedef {'zero-shot'|'fine-tuned'} Role */
/** Which column a score is for: the pair's three (α = 0, α, α = 1), or a recipe's fine-tune on its own (`fine-tuned-1` …). @typedef {'zero-shot'|'merged'|'fine-tuned'|`fine-tuned-${number}`} ModelKind */
/** Where the bytes came from. @typedef {'network'|'cache'|'local'} Origin */
/** The compute back end. @typedef {'cpu'|'gpu'} BackendKind */
/** A notice's weight. @typedef {'info'|'warn'} NoticeLevel */

/**
 * What failed, in a `failed` event: `load` (the checkpoints), `alpha` (an α out of range), `labels`
 * (a template set or the text tower), `message` (a message the worker could not read), `crash` (the
 * engine panicked or could not start: seq 0), `cache` (clearing Cache Storage), `sweep`, `layerwise` (the per-layer α search), `bench`,
 * `export` (the merged checkpoint), `merge` (re-merging at an α while classifying), `classify`.
 * @typedef {'load'|'alpha'|'labels'|'message'|'crash'|'cache'|'sweep'|'layerwise'|'bench'|'export'|'merge'|'classify'|'recipe'} FailureKind
 */

// ------------------------------------------------------------------ page → worker (requests)

/**
 * Where a checkpoint comes from: candidate URLs tried in order (a 404 moves on to the next;
 * config.json and preprocessor_config.json are fetched from beside the one used), or local files
 * (the weights, optionally with config.json / preprocessor_config.json, recognised by name).
 * @typedef {object} ModelSource
 * @property {string[]} [urls]
 * @property {File[]} [files]
 */

/**
 * The prompt templates: a built-in set, or `custom` with an explicit list.
 * @typedef {object} TemplateChoice
 * @property {'single'|'imagenet80'|'custom'} set
 * @property {string[]} [list] used when `set` is `custom`
 */

/**
 * A photo to classify; `id` is chosen by the page, results and errors refer to it.
 * @typedef {object} ImageInput
 * @property {number} id
 * @property {string} name
 * @property {Blob} blob
 */

/**
 * A photo of an α sweep: its true label (an index into the current labels; null: unlabeled), the
 * set it counts in, and its named set within that set (one task of several), which gets its own
 * accuracy curve. A photo without a label counts as unlabeled whatever `set` says.
 * @typedef {object} SweepPhoto
 * @property {number} id
 * @property {number|null} label
 * @property {'task'|'shift'|'unlabeled'} set
 * @property {string|null} [group] the named set's name
 */

/**
 * Drop the current models, fetch (or read) both checkpoints, merge, then classify every photo.
 * Answered with a `loaded` event (and `progress`, `status`, `notice`, `results` on the way).
 * @typedef {object} LoadRequest
 * @property {'load'} type
 * @property {number} seq
 * @property {ModelSource} zero_shot
 * @property {ModelSource|null} [fine_tuned]
 * @property {string|null} [recipe] a merge recipe over several fine-tunes instead of the two-model
 *   merge: its method and coefficients as recipe JSON (`{"version":1,"method":"ties","lambda":0.3,"top_k":20}`)
 * @property {ModelSource[]} [fine_tunes] the recipe's fine-tuned checkpoints, in order
 * @property {BackendKind|null} [backend] the address's `backend=`, overriding the automatic choice
 * @property {number|null} [stall_s] the address's `stall=`: seconds without a byte before a
 *   download attempt is retried (default 30)
 */

/**
 * New coefficients (or a method over the same merge inputs: task arithmetic ↔ average) for the
 * loaded recipe: re-merges on the engine, no checkpoint is read. Another method or TIES k fails
 * (`what: 'recipe'`): those need a new `load`.
 * @typedef {object} SetRecipeRequest
 * @property {'set_recipe'} type
 * @property {number} seq
 * @property {string} recipe recipe JSON without checkpoints
 */

/**
 * Move α: re-merges and re-classifies every photo with the merged model.
 * @typedef {object} SetAlphaRequest
 * @property {'set_alpha'} type
 * @property {number} seq
 * @property {number} alpha in [0, 1]
 */

/**
 * New labels or templates: class embeddings are recomputed, every photo re-classified.
 * @typedef {object} SetLabelsRequest
 * @property {'set_labels'} type
 * @property {number} seq
 * @property {string[]} labels
 * @property {TemplateChoice} templates
 */

/**
 * @typedef {object} AddImagesRequest
 * @property {'add_images'} type
 * @property {number} seq
 * @property {ImageInput[]} images
 */

/**
 * @typedef {object} RemoveImageRequest
 * @property {'remove_image'} type
 * @property {number} seq
 * @property {number|null} [id] absent or null: remove every photo
 */

/**
 * Delete every downloaded checkpoint from Cache Storage (answered with `cache_cleared`).
 * @typedef {object} ClearCacheRequest
 * @property {'clear_cache'} type
 * @property {number} seq
 */

/**
 * Which of these URLs are stored in Cache Storage (answered with `cached`).
 * @typedef {object} ProbeCacheRequest
 * @property {'probe_cache'} type
 * @property {number} seq
 * @property {string[]} urls
 */

/**
 * Classify the sweep's photos (labelled, and unlabeled ones for the label-free α rules) at every α
 * of a list (`sweep_progress` events, then `sweep` with the rules and the CSV; honours `cancel`).
 * @typedef {object} SweepRequest
 * @property {'sweep'} type
 * @property {number} seq
 * @property {number[]} alphas
 * @property {SweepPhoto[]} photos
 */

/**
 * Search a per-depth α schedule (`knots` over depth, linear in between) minimising the mean entropy
 * on the label-free photos — those without a label, else the shift photos with their labels hidden —
 * from all knots at `start` (`layerwise_progress` events, then `layerwise`; honours `cancel`).
 * @typedef {object} LayerwiseRequest
 * @property {'layerwise'} type
 * @property {number} seq
 * @property {SweepPhoto[]} photos
 * @property {number} start
 * @property {number} [knots] 3 when absent
 */

/**
 * The merged checkpoint at α as safetensors bytes (answered with a `merged` message).
 * @typedef {object} ExportMergedRequest
 * @property {'export_merged'} type
 * @property {number} seq
 * @property {number} alpha
 * @property {'f32'|'f16'|'bf16'} [dtype] the floats in the file (f32 when absent)
 */

/**
 * Time the loaded model (answered with `bench`).
 * @typedef {object} BenchRequest
 * @property {'bench'} type
 * @property {number} seq
 * @property {number} [runs] default 1
 * @property {number} [prompts] prompts through the text tower, default 10
 * @property {boolean} [encodes] false: the coefficient change alone (no image batches, no prompts)
 */

/**
 * What the engine holds now (answered with `stats`).
 * @typedef {object} StatsRequest
 * @property {'stats'} type
 * @property {number} seq
 */

/**
 * What loading these checkpoints would take in the page, asked before any is downloaded (the
 * memory note): handled at once, not queued behind a running request; answered with
 * `memory_estimate` (src/session/limits.rs `memory_estimate`, the load's own rule).
 * @typedef {object} MemoryEstimateRequest
 * @property {'memory_estimate'} type
 * @property {number} seq
 * @property {number} zero_shot_mb the zero-shot checkpoint's file
 * @property {number[]} fine_tunes_mb each fine-tune's file
 * @property {'wise-ft'|'task-arithmetic'|'average'|'ties'} method
 * @property {boolean} cpu whether the CPU engine would run
 */

/**
 * TEST HOOK: destroy the GPU engine's device at once (handled at once, not queued; no `seq`, no
 * `done`), as a driver reset would; the engine recovers as from any lost device.
 * @typedef {object} LoseDeviceRequest
 * @property {'lose_device'} type
 */

/**
 * Abort the running download, sweep or prompt encoding (handled at once, not queued; no `seq`, no `done`).
 * @typedef {object} CancelRequest
 * @property {'cancel'} type
 */

/**
 * Page → worker. Every request but `cancel` carries a `seq`, answered by exactly one `done`
 * (after at most one `failed`) with that `seq`.
 * @typedef {LoadRequest|SetAlphaRequest|SetRecipeRequest|SetLabelsRequest|AddImagesRequest|RemoveImageRequest|ClearCacheRequest|ProbeCacheRequest|SweepRequest|LayerwiseRequest|ExportMergedRequest|BenchRequest|StatsRequest|MemoryEstimateRequest|LoseDeviceRequest|CancelRequest} Request
 */

// ------------------------------------------------------------------ worker → page (events)

/**
 * The WebGPU adapter the browser offers.
 * @typedef {object} AdapterInfo
 * @property {string} vendor
 * @property {string} architecture
 * @property {string} device
 * @property {string} description
 * @property {boolean} software a software rasteriser (SwiftShader, lavapipe, WARP, …): not a GPU
 */

/**
 * Which compute back end runs, and why that one.
 * @typedef {object} Backend
 * @property {BackendKind} kind
 * @property {string} name what the engine calls itself
 * @property {string} reason e.g. "navigator.gpu absent"
 * @property {AdapterInfo|null} adapter also when the CPU runs
 */

/**
 * One loaded checkpoint.
 * @typedef {object} ModelInfo
 * @property {Role} role
 * @property {string} name the URL or file name the weights came from
 * @property {'safetensors'|'PyTorch zip'} format
 * @property {'CLIPModel'|'CLIPVisionModel'|'CLIPVisionModelWithProjection'|'CLIPTextModel'|'CLIPTextModelWithProjection'} layout
 * @property {number} parameters
 * @property {number} tensors
 * @property {string[]} dtypes e.g. "F16 ×196"
 * @property {string|null} config_file null: the configuration was inferred from the tensor shapes
 * @property {string[]} assumptions
 * @property {Origin} origin
 * @property {number} bytes
 */

/**
 * Counts and names of the merge (src/merge.rs `MergeReport`).
 * @typedef {object} MergeReport
 * @property {string[]} interpolated
 * @property {string[]} kept taken from the zero-shot checkpoint as they are
 * @property {string[]} extra only in the fine-tuned checkpoint (a classification head): not used
 * @property {number} interpolated_parameters
 * @property {number} kept_parameters
 */

/**
 * Probabilities of one photo for one of the columns (`LoadedEvent.columns`).
 * @typedef {object} Scores
 * @property {number} image
 * @property {ModelKind} model
 * @property {number|null} alpha the α of the two-model merge (0 for zero-shot); null for a recipe's merge
 * @property {string|null} setting a recipe's merge in words ("task arithmetic, λ = 0.3"); null for an α
 * @property {number[]} probs one per label, in label order
 */

/**
 * One photo at one α of a sweep.
 * @typedef {object} SweepScore
 * @property {number} image
 * @property {string} predicted the top label
 * @property {number} top its index
 * @property {number|null} p_true probability of the photo's true label (null: unlabeled)
 */

/** @typedef {{alpha: number, scores: SweepScore[]}} SweepPoint */

/**
 * A labelled set's accuracy along a sweep, or a named set's within one (src/session `Curve`). A
 * named set that holds its whole set is left out; a name in both sets is two curves.
 * @typedef {object} Curve
 * @property {'task'|'shift'} set
 * @property {string|null} name the named set; null for the whole set
 * @property {string} label the set's name, or the named set's (with its set's where the name is in both)
 * @property {{alpha: number, correct: number, n: number, accuracy: number}[]} points one per swept value
 * @property {number} top the highest accuracy
 * @property {number[]} best the swept values that reach it
 */

/**
 * The per-α columns the α rules read (src/choose `AlphaRow`).
 * @typedef {object} RulesAlphaRow
 * @property {number} alpha
 * @property {number} task_accuracy
 * @property {number|null} shift_accuracy
 * @property {number|null} entropy mean prediction entropy on the label-free set (nats)
 * @property {number|null} agreement_zero_shot top-1 agreement with α = 0 on the label-free set
 * @property {number|null} estimated_shift_accuracy agreement-on-the-line's estimate
 */

/**
 * One α rule's pick (src/choose `RuleResult`), or why it has none (`error`).
 * @typedef {object} RuleResult
 * @property {'half'|'task-best'|'min-entropy'|'agreement-line'|'oracle'} rule
 * @property {string} name as the table names it
 * @property {number|null} alpha
 * @property {number|null} task_accuracy
 * @property {number|null} shift_accuracy
 * @property {number|null} loss_vs_oracle oracle's shift accuracy − this rule's (a fraction)
 * @property {string|null} error
 */

/**
 * What each rule for choosing α picks on a sweep (src/choose `Rules`).
 * @typedef {object} Rules
 * @property {RulesAlphaRow[]} alphas
 * @property {'unlabeled'|'shift-labels-hidden'|null} label_free the pictures the label-free rules read
 * @property {{slope: number, intercept: number, pairs: number}|null} line agreement-on-the-line fit (probit space)
 * @property {RuleResult[]} rules
 * @property {string} verdict one sentence: which rule would have served this audience best
 */

/**
 * The timed steps of `wiseft bench` (src/bench.rs `Timings`); the encoders' steps are absent when
 * the request had `encodes: false`.
 * @typedef {object} Timings
 * @property {number} merge_s one α change
 * @property {number} [image_batch1_s]
 * @property {number} [image_batch8_s]
 * @property {number} [prompts]
 * @property {number} [text_s]
 * @property {number} [image_gflops_per_s]
 * @property {number} [text_gflops_per_s]
 */

/**
 * The worker's wasm is running (sent once at start).
 * @typedef {object} HelloEvent
 * @property {'hello'} type
 * @property {string} version
 * @property {AdapterInfo|null} adapter
 * @property {string} gpu_note
 * @property {boolean} cache_available
 * @property {number} cpu_threads the CPU engine's threads (the threaded build's pool; 1 otherwise)
 * @property {string} threads_note why that many, e.g. "2 threads (2 cores reported, cross-origin isolated), with relaxed SIMD's fused multiply-add"
 */

/**
 * Download / read progress of one file.
 * @typedef {object} ProgressEvent
 * @property {'progress'} type
 * @property {Role} role
 * @property {string} file `weights`, `config.json`, `preprocessor_config.json` (a local file: its name)
 * @property {string} url
 * @property {Origin} origin
 * @property {number} loaded
 * @property {number|null} total
 * @property {number|null} uploaded bytes of this file already on the GPU, when streaming
 * @property {number} elapsed_ms
 * @property {number} attempt
 * @property {boolean} done
 */

/**
 * What the worker is doing now ("parsing …", "merging …", "classifying …").
 * @typedef {object} StatusEvent
 * @property {'status'} type
 * @property {string} text
 */

/**
 * Something worth knowing that is not an error. A later notice with the same `key` replaces this
 * one (e.g. the retries of one file: `retry <url>`).
 * @typedef {object} NoticeEvent
 * @property {'notice'} type
 * @property {NoticeLevel} level
 * @property {string} text
 * @property {string|null} key
 */

/**
 * Both checkpoints are in and merged.
 * @typedef {object} LoadedEvent
 * @property {'loaded'} type
 * @property {Backend} backend
 * @property {MergeReport|null} report null: no fine-tuned checkpoint
 * @property {ModelInfo[]} models
 * @property {number} image_size
 * @property {number} alpha
 * @property {object|null} recipe the recipe loaded (JSON without checkpoints); null for a pair
 * @property {FineTuneReport[]} fine_tunes each fine-tune against the zero-shot model (recipe loads)
 * @property {ColumnInfo[]} columns the result columns the session sends scores for, in the order
 *   the page draws them (src/session/mod.rs `columns`)
 */

/**
 * One result column: `model` is the key of its scores (`Scores.model`).
 * @typedef {object} ColumnInfo
 * @property {ModelKind} model
 * @property {string} title "Zero-shot", "Merged", "Fine-tuned", "Fine-tune 2"
 * @property {string|null} checkpoint the name of the checkpoint it shows (path, URL, hub id or file name); null for the merge
 */

/**
 * One fine-tuned checkpoint against the zero-shot one.
 * @typedef {object} FineTuneReport
 * @property {string} checkpoint
 * @property {string[]} changed float tensors of θ₀ it changes
 * @property {string[]} missing float tensors of θ₀ it lacks (zero task vector there)
 * @property {number} changed_parameters
 * @property {number} relative_distance ‖θᵢ − θ₀‖/‖θ₀‖
 */

/**
 * Probabilities for some photos at one α (for one or more of the three models).
 * @typedef {object} ResultsEvent
 * @property {'results'} type
 * @property {string[]} labels
 * @property {number} templates how many prompt templates
 * @property {Scores[]} scores
 */

/**
 * A photo that cannot be used; the others go on.
 * @typedef {object} ImageErrorEvent
 * @property {'image_error'} type
 * @property {number} image
 * @property {string} message
 */

/**
 * A request that failed as a whole, with what to do about it. `cancelled`: the person pressed
 * cancel (not an error to show as one). `seq` 0: no request (a crash, an unreadable message).
 * @typedef {object} FailedEvent
 * @property {'failed'} type
 * @property {number} seq
 * @property {FailureKind} what
 * @property {string} message
 * @property {boolean} cancelled
 */

/**
 * A sweep step finished: `k` of `n` values of the swept coefficient done.
 * @typedef {object} SweepProgressEvent
 * @property {'sweep_progress'} type
 * @property {number} seq
 * @property {number} k
 * @property {number} n
 * @property {'α'|'λ'} coefficient what is swept: α, or a recipe's λ
 * @property {number} alpha its value
 */

/**
 * A large prompt set is being encoded in chunks: `k` of `n` prompts done, about `eta_s` seconds
 * left (null before the first chunk is timed).
 * @typedef {object} PromptProgressEvent
 * @property {'prompt_progress'} type
 * @property {number} seq
 * @property {number} k
 * @property {number} n
 * @property {number|null} eta_s
 */

/**
 * What the engine holds now. `wasm_memory_bytes`: the worker's WebAssembly memory (it never
 * shrinks: its peak so far); `gpu`: the GPU engine's counters (`bytes_live`: its buffers alive now),
 * null on the CPU engine.
 * @typedef {object} StatsEvent
 * @property {'stats'} type
 * @property {number} seq
 * @property {'cpu'|'gpu'|null} backend null before a model is loaded
 * @property {number} wasm_memory_bytes
 * @property {{buffers_created: number, bytes_allocated: number, bytes_live: number, weight_bytes_uploaded: number, merges: number, forwards: number}|null} gpu
 * @property {number} photos
 */

/**
 * The whole sweep (only sent when it was not cancelled), with the α rules and the CSV.
 * @typedef {object} SweepEvent
 * @property {'sweep'} type
 * @property {number} seq
 * @property {'α'|'λ'} coefficient what was swept: α, or a recipe's λ (the points' `alpha` holds its values)
 * @property {string[]} labels
 * @property {SweepPoint[]} points
 * @property {Curve[]} curves the task set's accuracy, the shift set's (each when it has labelled
 *   photos), then each named set's within them, in the order its first photo was sent
 * @property {Rules|null} rules null when the rules cannot run on these photos (`rules_error` says why)
 * @property {string|null} rules_error
 * @property {string} csv the sweep's CSV, as `wiseft sweep --csv` prints it
 */

/**
 * A forward pass of the layer-wise search: `done` of at most `most`; the lowest entropy so far;
 * the whole search's estimated seconds here and on ViT-B/32 on this engine.
 * @typedef {object} LayerwiseProgressEvent
 * @property {'layerwise_progress'} type
 * @property {number} seq
 * @property {number} done
 * @property {number} most
 * @property {number} photos the label-free photos each pass classifies
 * @property {number} best
 * @property {number} estimate_s
 * @property {number} vit_b32_s
 */

/**
 * What the layer-wise search found (src/session/layerwise.rs `LayerwiseResult`).
 * @typedef {object} LayerwiseResult
 * @property {number[]} knots α at each knot, from the embeddings (depth 0) to the last layer (depth 1)
 * @property {number} entropy
 * @property {number} start_alpha
 * @property {number} start_entropy
 * @property {'task'|'shift'|'unlabeled'} free_set the photos the entropy was measured on
 * @property {number} free_photos
 * @property {number|null} task_accuracy
 * @property {number|null} shift_accuracy
 * @property {number} evaluations forward passes over the label-free photos
 * @property {number} seconds
 * @property {number} vit_b32_seconds the same search on ViT-B/32 on this engine (estimated)
 */

/**
 * The layer-wise search's result (only sent when it was not cancelled).
 * @typedef {object} LayerwiseEvent
 * @property {'layerwise'} type
 * @property {number} seq
 * @property {LayerwiseResult} result
 */

/**
 * Benchmark of the loaded model. `wasm_memory_mb`: the worker's WebAssembly memory (its peak).
 * @typedef {object} BenchEvent
 * @property {'bench'} type
 * @property {number} seq
 * @property {string} backend
 * @property {number} checkpoint_mb
 * @property {number} load_s
 * @property {Timings} timings
 * @property {number} wasm_memory_mb
 */

/**
 * A request is finished.
 * @typedef {object} DoneEvent
 * @property {'done'} type
 * @property {number} seq
 */

/**
 * The URLs of a `probe_cache` that are stored.
 * @typedef {object} CachedEvent
 * @property {'cached'} type
 * @property {string[]} urls
 */

/**
 * A `memory_estimate`'s answer, in MB.
 * @typedef {object} MemoryEstimateEvent
 * @property {'memory_estimate'} type
 * @property {number} seq
 * @property {number} download_mb every checkpoint's file
 * @property {number} memory_mb the page's peak memory on the CPU engine, as the load will be made
 * @property {number} with_own_columns_mb that peak with TIES's fine-tunes' own task vectors kept
 * @property {boolean} own_columns whether each fine-tune gets its column (false: TIES drops their own vectors)
 * @property {boolean} fits whether `memory_mb` fits WebAssembly's `limit_mb`
 * @property {boolean} worth_saying whether to say it before the download (the CPU engine, a large download)
 * @property {number} limit_mb WebAssembly's memory as the estimate counts it (4096)
 */

/**
 * Downloaded checkpoints deleted from Cache Storage.
 * @typedef {object} CacheClearedEvent
 * @property {'cache_cleared'} type
 * @property {number} entries
 * @property {number|null} usage_before
 * @property {number|null} usage_after
 */

/**
 * The merged checkpoint at α (`Event::Merged`; the buffer of `bytes` is transferred, not copied).
 * @typedef {object} MergedMessage
 * @property {'merged'} type
 * @property {number} seq
 * @property {number} alpha
 * @property {'f32'|'f16'|'bf16'} dtype
 * @property {Uint8Array} bytes safetensors, with its provenance (recipe, sources with SHA-256, tool) in the header
 * @property {string} config the zero-shot checkpoint's config.json, its dtype the file's
 * @property {string|null} recipe a recipe's method and coefficients in words (null: the two-model merge at `alpha`)
 */

/**
 * Worker → page.
 * @typedef {HelloEvent|ProgressEvent|StatusEvent|NoticeEvent|LoadedEvent|ResultsEvent|ImageErrorEvent|FailedEvent|SweepProgressEvent|PromptProgressEvent|SweepEvent|LayerwiseProgressEvent|LayerwiseEvent|BenchEvent|StatsEvent|DoneEvent|CachedEvent|MemoryEstimateEvent|CacheClearedEvent|MergedMessage} Event
 */

export {};
