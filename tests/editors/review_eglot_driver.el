;;; review_eglot_driver.el --- review findings in Emacs (batch) with Eglot -*- lexical-binding: t; -*-

;; Loaded after editor-configs/emacs/opencode-eglot.el.  Environment as for eglot_driver.el
;; (EDITOR_TEST_FILE, EDITOR_TEST_BRIDGE_OPTIONS).  The user's answers (the code-action menu
;; picks) come on standard input.  Prints "TEST: …"
;; lines; exits 0 when every step happened.

(require 'json)
(require 'flymake)

(defun test-say (format-string &rest args)
  (princ (concat "TEST: " (apply #'format format-string args) "\n") #'external-debugging-output))

(defun test-idle ()
  "Run the idle timers, as Emacs does whenever the user pauses: Eglot sends its didChange
and Flymake checks the buffer again from idle timers, and batch Emacs is never idle."
  (dolist (timer (copy-sequence timer-idle-list))
    (when (memq timer timer-idle-list)
      (timer-event-handler timer))))

(defun test-wait (what predicate timeout)
  "Let Emacs run (the user idle) until PREDICATE is true; fail after TIMEOUT seconds."
  (let ((deadline (+ (float-time) timeout)))
    (while (progn (test-idle) (not (funcall predicate)))
      (when (> (float-time) deadline)
        (test-say "timed out waiting for %s" what)
        (test-say "findings: %S" (test-findings))
        (let ((server (eglot-current-server)))
          (when server
            (with-current-buffer (jsonrpc-events-buffer server)
              (princ (buffer-string) #'external-debugging-output))))
        (dolist (buffer (buffer-list))  ; the bridge's own log
          (when (string-match-p "stderr" (buffer-name buffer))
            (with-current-buffer buffer
              (princ (buffer-string) #'external-debugging-output))))
        (kill-emacs 1))
      (accept-process-output nil 0.1))))

(defun test-findings ()
  "Flymake's diagnostics in the buffer: (line type text), 1-based lines, sorted."
  (sort (mapcar (lambda (d)
                  (list (line-number-at-pos (flymake-diagnostic-beg d))
                        (flymake-diagnostic-type d)
                        (flymake-diagnostic-text d)))
                (flymake-diagnostics))
        (lambda (a b) (< (car a) (car b)))))

(defun test-line (n)
  (save-excursion
    (goto-char (point-min))
    (forward-line (1- n))
    (buffer-substring-no-properties (line-beginning-position) (line-end-position))))

(defun test-code-action-at-line (n)
  "The user goes to line N and runs M-x eglot-code-actions (Eglot's own command)."
  (deactivate-mark)
  (goto-char (point-min))
  (forward-line (1- n))
  (forward-char 4)
  (setq last-nonmenu-event ?\r)
  (call-interactively #'eglot-code-actions))

(let ((options (json-parse-string (getenv "EDITOR_TEST_BRIDGE_OPTIONS")
                                  :object-type 'plist :null-object nil
                                  :false-object :json-false)))
  (setq opencode-eglot-initialization-options
        (append options opencode-eglot-initialization-options)))

(when (getenv "EDITOR_TEST_BRIDGE_LOG")  ; for debugging a failure
  (setq opencode-eglot-program
        (list "opencode-lsp" "--log-level" "DEBUG" "--log-file" (getenv "EDITOR_TEST_BRIDGE_LOG"))))

;; Eglot 1.9 asks y-or-n-p before every edit the server sends; in batch mode that question,
;; asked from inside the process filter, cannot read standard input.  A user who trusts the
;; server's edits (they are versioned and undoable) turns it off like this.
(setq eglot-confirm-server-initiated-edits nil)

(find-file (getenv "EDITOR_TEST_FILE"))
(call-interactively #'eglot)  ; M-x eglot
(test-wait "eglot to connect" (lambda () (eglot-current-server)) 60)

;; Lines 3-4 selected, M-x opencode-eglot-code-actions, the user picks Review.
(goto-char (point-min))
(forward-line 2)
(set-mark (point))
(forward-line 2)
(activate-mark)
(setq last-nonmenu-event ?\r)
(call-interactively #'opencode-eglot-code-actions)
(test-wait "the findings" (lambda () (= (length (test-findings)) 2)) 120)
(test-say "findings: %S" (test-findings))

;; Line 4, M-x eglot-code-actions, Apply the suggestion.
(test-code-action-at-line 4)
(test-wait "the suggestion" (lambda () (string-match-p "abs(x)" (test-line 4))) 60)
(test-say "line 4: %s" (test-line 4))
(test-say "modified: %s" (buffer-modified-p))
(test-wait "the applied finding to go" (lambda () (= (length (test-findings)) 1)) 30)
(test-say "after apply: %S" (test-findings))

;; Line 8, M-x eglot-code-actions, Dismiss.
(test-code-action-at-line 8)
(test-wait "the dismissed finding to go" (lambda () (null (test-findings))) 30)
(test-say "after dismiss: %S" (test-findings))
(kill-emacs 0)
