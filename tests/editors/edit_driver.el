;;; edit_driver.el --- an agent edit in Emacs (Eglot or lsp-mode), as a user lives it -*- lexical-binding: t; -*-

;; Loaded after editor-configs/emacs/opencode-eglot.el or opencode-lsp-mode.el (`emacs -Q
;; --batch -l config -l this'), with C-c o bound as the docs say.  Environment:
;;   EDITOR_TEST_CLIENT           "eglot" or "lsp-mode"
;;   EDITOR_TEST_FILE             the file to open (in a git repository)
;;   EDITOR_TEST_BRIDGE_OPTIONS   JSON settings added to the config's own
;;   EDITOR_TEST_UNSAVED          "LINE:TEXT": the user's unsaved change before asking
;;   EDITOR_TEST_CTRL_G           a regexp: the user presses C-g on the first question it matches
;;   EDITOR_TEST_EXPECT           text the agent's edit puts in the buffer
;; What the user types (the prompt of C-c o a, then each answer) comes on standard input, as
;; batch-mode minibuffers read it.  After C-g the driver waits for the request's diagnostic
;; without running anything, then presses C-c o o on its line.  Once the agent is done it
;; saves the buffer (C-x C-s) and prints what the editor shows as one "TEST-JSON: " line.

(require 'json)
(require 'flymake)

(defvar test-eglot (equal (getenv "EDITOR_TEST_CLIENT") "eglot"))

;; What differs between the two configs.
(defvar test-command-map (if test-eglot 'opencode-eglot-command-map 'opencode-lsp-mode-command-map))
(defvar test-options (if test-eglot 'opencode-eglot-initialization-options
                       'opencode-lsp-mode-initialization-options))
(defvar test-status (if test-eglot 'opencode-eglot-status 'opencode-lsp-mode-status))
(defvar test-answers (if test-eglot 'opencode-eglot-answers 'opencode-lsp-mode-answers))
(unless test-eglot
  ;; What a user answers once per project ("import the project root"), and a session file
  ;; of the test's own.
  (setq lsp-auto-guess-root t
        lsp-session-file (locate-user-emacs-file "lsp-session")
        lsp-enable-file-watchers nil
        lsp-keep-workspace-alive nil))

(global-set-key (kbd "C-c o") (symbol-value test-command-map)) ; as docs/editors.md says

(defun test-say (format-string &rest args)
  (princ (concat "TEST: " (apply #'format format-string args) "\n") #'external-debugging-output))

(defun test-wait (what predicate timeout)
  "Let Emacs run (process output, timers) until PREDICATE holds; fail after TIMEOUT s."
  (let ((deadline (+ (float-time) timeout)))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (test-say "timed out waiting for %s" what)
        (if test-eglot
            (let ((server (ignore-errors (eglot-current-server))))
              (when server
                (with-current-buffer (jsonrpc-events-buffer server)
                  (princ (buffer-string) #'external-debugging-output))))
          (when (get-buffer "*lsp-log*")
            (with-current-buffer "*lsp-log*"
              (princ (buffer-string) #'external-debugging-output))))
        (kill-emacs 1))
      (accept-process-output nil 0.1))))

;;;; Every question Emacs asks the user, counted where it is asked

(defvar test-questions nil "Each question asked, the last first: (FUNCTION PROMPT . DETAILS).")
(defvar test-asking 0 "How deep in a question we are (y-or-n-p reads with read-string...).")
(defvar test-ctrl-g (getenv "EDITOR_TEST_CTRL_G"))

(defun test-question (function original &rest args)
  (if (> test-asking 0)
      (apply original args)
    (let* ((prompt (format "%s" (car args)))
           (question (list :function (symbol-name function) :prompt prompt)))
      (when (eq function 'completing-read)
        ;; What TAB lists: the completions of what is pre-filled.
        (let ((initial (nth 4 args)))
          (setq question
                (append question
                        (list :initial (if (consp initial) (car initial) initial)
                              :completions
                              (vconcat (all-completions (or (if (consp initial) (car initial)
                                                              initial)
                                                            "")
                                                        (nth 1 args) (nth 2 args))))))))
      (push question test-questions)
      (test-say "asked (%s): %s" function prompt)
      (when (and test-ctrl-g (string-match-p test-ctrl-g prompt))
        (setq test-ctrl-g nil)
        (test-say "C-g")
        (signal 'quit nil))             ; what C-g in the minibuffer does
      (let ((test-asking (1+ test-asking)))
        (apply original args)))))

(dolist (function '(y-or-n-p yes-or-no-p completing-read read-string read-from-minibuffer
                    read-char-choice ask-user-about-supersession-threat ask-user-about-lock))
  (advice-add function :around (apply-partially #'test-question function)))

;;;; The session

(let ((options (json-parse-string (getenv "EDITOR_TEST_BRIDGE_OPTIONS")
                                  :object-type 'plist :null-object nil
                                  :false-object :json-false)))
  (set test-options (append options (symbol-value test-options))))

(defvar test-states nil "Every state the mode line showed, the last first.")
(add-variable-watcher test-status
                      (lambda (_symbol status _op _where)
                        (push (plist-get status :state) test-states)))

(defun test-diagnostics ()
  "The texts of the Flymake diagnostics in the current buffer."
  (mapcar #'flymake-diagnostic-text (flymake-diagnostics)))

(defun test-key (keys)
  "Run the command KEYS are bound to, as typing them does."
  (let ((command (key-binding (kbd keys))))
    (test-say "%s runs %s" keys command)
    (setq last-nonmenu-event (aref (kbd keys) (1- (length (kbd keys))))) ; from the keyboard
    (call-interactively command)))

(find-file (getenv "EDITOR_TEST_FILE"))
(defvar test-buffer (current-buffer))
(if test-eglot
    (progn (call-interactively #'eglot)  ; M-x eglot
           (test-wait "eglot to connect" (lambda () (eglot-current-server)) 60))
  (call-interactively #'lsp)            ; M-x lsp
  (test-wait "lsp-mode to connect" (lambda () (ignore-errors (opencode-lsp-mode-commands))) 60))
(flymake-start)                         ; what the user's first command starts

(when-let ((unsaved (getenv "EDITOR_TEST_UNSAVED")))
  (string-match "\\`\\([0-9]+\\):\\(.*\\)\\'" unsaved)
  (goto-char (point-min))
  (forward-line (1- (string-to-number (match-string 1 unsaved))))
  (delete-region (line-beginning-position) (line-end-position))
  (insert (match-string 2 unsaved))
  (goto-char (point-min))
  ;; What Eglot's idle timer does once the user pauses (batch Emacs is never idle).
  (when test-eglot (eglot--signal-textDocument/didChange)))

(test-key "C-c o a")                    ; the prompt, typed
(setq test-questions nil)               ; from here on, what the agent's work makes Emacs ask
(test-say "asked OpenCode")

(when (getenv "EDITOR_TEST_CTRL_G")
  (test-wait "the C-g" (lambda () (null test-ctrl-g)) 120)
  ;; Nothing runs now: the diagnostic must come by itself.
  (test-wait "the request's diagnostic"
             (lambda () (seq-some (lambda (text) (string-match-p "OpenCode wants" text))
                                  (test-diagnostics)))
             30)
  (test-say "diagnostic: %s" (car (test-diagnostics)))
  (goto-char (flymake-diagnostic-beg (car (flymake-diagnostics))))
  (test-key "C-c o o"))

(defvar test-expect (getenv "EDITOR_TEST_EXPECT"))
(test-wait "the agent's edit in the buffer"
           (lambda () (with-current-buffer test-buffer
                        (save-excursion (goto-char (point-min)) (search-forward test-expect nil t))))
           120)
(test-wait "the answer" (lambda () (symbol-value test-answers)) 120)
(test-wait "the idle status" (lambda () (equal (car test-states) "idle")) 60)

(defun test-text (string)
  (if (multibyte-string-p string) string (decode-coding-string string 'utf-8)))

(defun test-file-text (file)
  (with-temp-buffer (insert-file-contents file) (buffer-string)))

(defun test-diff-buffers ()
  "Each buffer visiting a .diff file: whether it is in diff-mode and shown."
  (vconcat
   (cl-loop for buffer in (buffer-list)
            for file = (buffer-file-name buffer)
            when (and file (string-suffix-p ".diff" file))
            collect (with-current-buffer buffer
                      (list :file file
                            :mode (symbol-name major-mode)
                            :shown (if (get-buffer-window buffer t) t :json-false)
                            :text (buffer-string))))))

(set-buffer test-buffer)
(let* ((during (vconcat (reverse test-questions)))
       (modified (buffer-modified-p))
       (in-step (verify-visited-file-modtime))
       (text (buffer-string))
       (diagnostics (vconcat (test-diagnostics)))
       (diffs (test-diff-buffers)))
  (setq test-questions nil)
  (save-buffer)                         ; C-x C-s
  (princ (concat "TEST-JSON: "
                 (test-text                ; Emacs 30's json-serialize gives UTF-8 bytes
                  (json-serialize
                   (list :questions during
                         :modified (if modified t :json-false)
                         :modtimeHolds (if in-step t :json-false)
                         :buffer text
                         :diagnostics diagnostics
                         :diffs diffs
                         :states (vconcat (reverse test-states))
                         :saveQuestions (vconcat (reverse test-questions))
                         :modifiedAfterSave (if (buffer-modified-p) t :json-false)
                         :fileAfterSave (test-file-text buffer-file-name))
                   :null-object nil :false-object :json-false))
                 "\n")
         #'external-debugging-output))
(kill-emacs 0)
