;;; selection_driver.el --- Emacs (batch) selects lines for the TUI -*- lexical-binding: t; -*-

;; Loaded after editor-configs/emacs/opencode-eglot.el or opencode-lsp-mode.el.  Environment:
;;   EDITOR_TEST_FILE             the file to open (in a git repository)
;;   EDITOR_TEST_BRIDGE_OPTIONS   JSON settings added to the config's own
;;   EDITOR_TEST_CLIENT           "eglot" or "lsp-mode"
;;   EDITOR_TEST_DONE             a file the test creates when Emacs may exit
;; Selects lines 3-4 as a user would (mark, move, then the command loop's post-command-hook;
;; batch Emacs has no command loop, so the driver runs the hook and lets its idle timer
;; fire), then waits for the test.

(require 'json)

(defun test-say (format-string &rest args)
  (princ (concat "TEST: " (apply #'format format-string args) "\n") #'external-debugging-output))

(defun test-wait (what predicate timeout)
  (let ((deadline (+ (float-time) timeout)))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (test-say "timed out waiting for %s" what)
        (kill-emacs 1))
      (accept-process-output nil 0.05)
      (when (and timer-idle-list (fboundp 'timer-event-handler))
        (dolist (timer (copy-sequence timer-idle-list))
          (timer-event-handler timer))))))

(let ((options (json-parse-string (getenv "EDITOR_TEST_BRIDGE_OPTIONS")
                                  :object-type 'plist :null-object nil
                                  :false-object :json-false)))
  (if (equal (getenv "EDITOR_TEST_CLIENT") "eglot")
      (setq opencode-eglot-initialization-options
            (append options opencode-eglot-initialization-options))
    (setq opencode-lsp-mode-initialization-options
          (append options (bound-and-true-p opencode-lsp-mode-initialization-options)))))

(find-file (getenv "EDITOR_TEST_FILE"))
(if (equal (getenv "EDITOR_TEST_CLIENT") "eglot")
    (progn (call-interactively #'eglot)
           (test-wait "eglot" (lambda () (eglot-current-server)) 60))
  (setq lsp-auto-guess-root t
        lsp-session-file (locate-user-emacs-file "lsp-session")
        lsp-enable-file-watchers nil
        lsp-keep-workspace-alive nil)
  (call-interactively #'lsp)
  (test-wait "lsp-mode" (lambda () (ignore-errors (opencode-lsp-mode-commands))) 60))
(test-say "connected")

(goto-char (point-min))
(forward-line 2)
(set-mark (point))
(forward-line 2)
(activate-mark)
(run-hooks 'post-command-hook)
(test-wait "the selection to be sent" (lambda () opencode-selection--last) 30)
(test-say "sent %S" opencode-selection--last)
(test-wait "the test" (lambda () (file-exists-p (getenv "EDITOR_TEST_DONE"))) 120)
(kill-emacs 0)
