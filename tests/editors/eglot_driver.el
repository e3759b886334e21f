;;; eglot_driver.el --- drive Emacs (batch) like a user, with editor-configs/emacs -*- lexical-binding: t; -*-

;; Loaded after editor-configs/emacs/opencode-eglot.el.  Environment:
;;   EDITOR_TEST_FILE             the file to open (in a git repository)
;;   EDITOR_TEST_BRIDGE_OPTIONS   JSON settings added to the config's own
;;   EDITOR_TEST_ACTION           "code-action" (lines 3-4, pick from the menu) or "ask"
;; The user's typing (the menu choice, the prompt) comes on standard input, as batch-mode
;; minibuffers read it.  Prints "TEST: …" lines; exits 0 once the answer arrived.

(require 'json)

(defun test-say (format-string &rest args)
  (princ (concat "TEST: " (apply #'format format-string args) "\n") #'external-debugging-output))

(defun test-wait (what predicate timeout)
  "Let Emacs run until PREDICATE is true; fail after TIMEOUT seconds."
  (let ((deadline (+ (float-time) timeout)))
    (while (not (funcall predicate))
      (when (> (float-time) deadline)
        (test-say "timed out waiting for %s" what)
        (let ((server (eglot-current-server)))
          (when server
            (with-current-buffer (jsonrpc-events-buffer server)
              (princ (buffer-string) #'external-debugging-output))))
        (kill-emacs 1))
      (accept-process-output nil 0.1))))

(let ((options (json-parse-string (getenv "EDITOR_TEST_BRIDGE_OPTIONS")
                                  :object-type 'plist :null-object nil
                                  :false-object :json-false)))
  (setq opencode-eglot-initialization-options
        (append options opencode-eglot-initialization-options)))

(defvar test-states nil "Every state the mode line showed, the last first.")
(add-variable-watcher 'opencode-eglot-status
                      (lambda (_symbol status _op _where)
                        (push (plist-get status :state) test-states)))

(find-file (getenv "EDITOR_TEST_FILE"))
(test-say "major mode %s" major-mode)
(call-interactively #'eglot)  ; M-x eglot
(test-wait "eglot to connect" (lambda () (eglot-current-server)) 60)
(test-say "connected to %s" (plist-get (eglot--server-info (eglot-current-server)) :name))

(pcase (getenv "EDITOR_TEST_ACTION")
  ("code-action"
   ;; Lines 3-4 selected, then M-x opencode-eglot-code-actions from the keyboard.
   (goto-char (point-min))
   (forward-line 2)
   (set-mark (point))
   (forward-line 2)
   (activate-mark)
   (setq last-nonmenu-event ?\r)
   (call-interactively #'opencode-eglot-code-actions))
  ("ask"
   (call-interactively #'opencode-eglot-ask))
  (other (test-say "unknown action %S" other) (kill-emacs 2)))

(test-say "command sent")
(test-wait "the answer" (lambda () opencode-eglot-answers) 120)
(test-say "answer: %s" (car opencode-eglot-answers))
(test-wait "the idle status" (lambda () (equal (car test-states) "idle")) 30)
(test-say "states: %s" (string-join (reverse test-states) " "))
(test-say "mode line:%s" (opencode-eglot-mode-line))
(kill-emacs 0)
