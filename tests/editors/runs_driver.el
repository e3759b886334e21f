;;; runs_driver.el --- a run that does not simply answer, in Emacs with opencode-eglot.el -*- lexical-binding: t; -*-

;; Loaded after editor-configs/emacs/opencode-eglot.el (`emacs -Q --batch -l config -l this'),
;; with C-c o bound as the docs say.  Opens EDITOR_TEST_FILE, M-x eglot, then by
;; EDITOR_TEST_ACTION:
;;   "abort":  C-c o a (the first words come, the rest is held); once busy, C-c o c
;;             opencode.session.abort (the test types it once the first words stream); waits for the bridge's "stopped" and the idle status;
;;   "reject": C-c o a; the permission prompt is answered from standard input; waits for the
;;             bridge's "rejected" and the idle status;
;;   "queued": C-c o a; C-g on the permission prompt; once the bridge says the request
;;             waits, C-c o a again; waits for the bridge's "queued".
;; What the user types (prompts, answers) comes on standard input, as batch minibuffers read
;; it.  At the end it prints what the person saw as one "TEST-JSON: " line: *Messages*, the
;; mode line, every question Emacs asked (its prompt and choices), the answers kept for C-c o r.
;; EDITOR_TEST_BRIDGE_OPTIONS (JSON) is added to the config's own settings.

(require 'json)

(global-set-key (kbd "C-c o") opencode-eglot-command-map) ; as docs/editors.md says

(defun test-say (format-string &rest args)
  (princ (concat "TEST: " (apply #'format format-string args) "\n") #'external-debugging-output))

(defun test-messages-text ()
  (with-current-buffer (messages-buffer) (buffer-substring-no-properties (point-min) (point-max))))

(defun test-in-messages (text)
  (string-search text (test-messages-text)))

(defun test-wait (what predicate timeout)
  "Let Emacs run (process output, timers) until PREDICATE holds; fail after TIMEOUT s."
  (let ((deadline (+ (float-time) timeout)))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (test-say "timed out waiting for %s" what)
        (princ (test-messages-text) #'external-debugging-output)
        (let ((server (ignore-errors (eglot-current-server))))
          (when server
            (with-current-buffer (jsonrpc-events-buffer server)
              (princ (buffer-string) #'external-debugging-output))))
        (kill-emacs 1))
      (accept-process-output nil 0.1))))

;;;; Every question Emacs asks the user

(defvar test-questions nil "Each question asked, the last first: (:function :prompt :choices).")
(defvar test-asking 0 "How deep in a question we are (completing-read reads with others).")
(defvar test-ctrl-g (equal (getenv "EDITOR_TEST_ACTION") "queued"))

(defun test-question (function original &rest args)
  (if (> test-asking 0)
      (apply original args)
    (let ((prompt (format "%s" (car args))))
      (push (list :function (symbol-name function) :prompt prompt
                  :choices (if (eq function 'completing-read)
                               (vconcat (all-completions "" (nth 1 args) (nth 2 args)))
                             []))
            test-questions)
      (test-say "asked (%s): %s" function prompt)
      (when (and test-ctrl-g (string-prefix-p "OpenCode wants" prompt))
        (setq test-ctrl-g nil)
        (test-say "C-g")
        (signal 'quit nil))             ; what C-g in the minibuffer does
      (let ((test-asking (1+ test-asking)))
        (apply original args)))))

(dolist (function '(y-or-n-p yes-or-no-p completing-read read-string read-from-minibuffer))
  (advice-add function :around (apply-partially #'test-question function)))

(defun test-key (keys)
  "Run the command KEYS are bound to, as typing them does."
  (let ((command (key-binding (kbd keys))))
    (test-say "%s runs %s" keys command)
    (call-interactively command)))

(defun test-mode-line ()
  (format "%s" (or (opencode-eglot-mode-line) "")))

;;;; The session

(let ((options (getenv "EDITOR_TEST_BRIDGE_OPTIONS")))
  (when options
    (setq opencode-eglot-initialization-options
          (append (json-parse-string options :object-type 'plist :null-object nil
                                     :false-object :json-false)
                  opencode-eglot-initialization-options))))

(find-file (getenv "EDITOR_TEST_FILE"))
(call-interactively #'eglot)            ; M-x eglot
(test-wait "the bridge to connect"
           (lambda ()
             (let ((message (plist-get opencode-eglot-status :message)))
               (and (stringp message) (string-prefix-p "OpenCode 1." message))))
           90)
(test-say "connected")
(defun test-idle-with (text)
  (lambda () (and (equal (plist-get opencode-eglot-status :state) "idle")
                  (string-search text (format "%s" (plist-get opencode-eglot-status :message))))))

(pcase (getenv "EDITOR_TEST_ACTION")
  ("abort"
   (test-key "C-c o a")
   (test-wait "the busy mode line" (lambda () (string-search "busy" (test-mode-line))) 90)
   (test-say "mode line while running:%s" (test-mode-line))
   (test-key "C-c o c")                 ; opencode.session.abort, no arguments
   (test-wait "the bridge's word" (lambda () (test-in-messages "stopped")) 60)
   (test-wait "the idle status" (test-idle-with "stopped") 30))
  ("reject"
   (test-key "C-c o a")
   (test-wait "the bridge's word" (lambda () (test-in-messages "agent was told")) 90)
   (test-wait "the idle status" (test-idle-with "rejected") 30))
  ("queued"
   (test-key "C-c o a")
   (test-wait "the request to wait" (lambda () (test-in-messages "waiting for your answer")) 90)
   (test-key "C-c o a")
   (test-wait "the bridge's word" (lambda () (test-in-messages "queued")) 120)))

(defun test-text (string)
  (if (multibyte-string-p string) string (decode-coding-string string 'utf-8)))

(princ (concat "TEST-JSON: "
               (test-text (json-serialize
                (list :messages (test-messages-text)
                      :modeLine (test-mode-line)
                      :questions (vconcat (reverse test-questions))
                      :answers (vconcat opencode-eglot-answers))
                :null-object nil :false-object :json-false))
               "\n")
       #'external-debugging-output)
(kill-emacs 0)
