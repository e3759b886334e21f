;;; lsp_mode_driver.el --- drive Emacs (batch) with lsp-mode and editor-configs/emacs -*- lexical-binding: t; -*-

;; Loaded after editor-configs/emacs/opencode-lsp-mode.el; the environment and standard
;; input as for eglot_driver.el.  Prints "TEST: …" lines; exits 0 once the answer arrived.

(require 'json)

(defun test-say (format-string &rest args)
  (princ (concat "TEST: " (apply #'format format-string args) "\n") #'external-debugging-output))

(defun test-wait (what predicate timeout)
  (let ((deadline (+ (float-time) timeout)))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (test-say "timed out waiting for %s" what)
        (when (get-buffer "*lsp-log*")
          (with-current-buffer "*lsp-log*"
            (princ (buffer-string) #'external-debugging-output)))
        (kill-emacs 1))
      (accept-process-output nil 0.1))))

;; What a user answers once per project ("import the project root"), and a session file
;; of the test's own.
(setq lsp-auto-guess-root t
      lsp-session-file (locate-user-emacs-file "lsp-session")
      lsp-enable-file-watchers nil
      lsp-keep-workspace-alive nil)

(let ((options (json-parse-string (getenv "EDITOR_TEST_BRIDGE_OPTIONS")
                                  :object-type 'plist :null-object nil
                                  :false-object :json-false)))
  (setq opencode-lsp-mode-initialization-options
        (append options opencode-lsp-mode-initialization-options)))

(defvar test-states nil)
(add-variable-watcher 'opencode-lsp-mode-status
                      (lambda (_symbol status _op _where)
                        (push (plist-get status :state) test-states)))

(find-file (getenv "EDITOR_TEST_FILE"))
(call-interactively #'lsp)  ; M-x lsp
(test-wait "lsp-mode to connect"
           (lambda () (ignore-errors (opencode-lsp-mode-commands))) 60)
(test-say "connected")

(pcase (getenv "EDITOR_TEST_ACTION")
  ("code-action"
   (goto-char (point-min))
   (forward-line 2)
   (set-mark (point))
   (forward-line 2)
   (activate-mark)
   (call-interactively #'opencode-lsp-mode-code-actions))
  ("ask"
   (call-interactively #'opencode-lsp-mode-ask))
  (other (test-say "unknown action %S" other) (kill-emacs 2)))

(test-say "command sent")
(test-wait "the answer" (lambda () opencode-lsp-mode-answers) 120)
(test-say "answer: %s" (car opencode-lsp-mode-answers))
(test-wait "the idle status" (lambda () (equal (car test-states) "idle")) 30)
(test-say "states: %s" (string-join (reverse test-states) " "))
(test-say "mode line:%s" (opencode-lsp-mode-mode-line))
(kill-emacs 0)
